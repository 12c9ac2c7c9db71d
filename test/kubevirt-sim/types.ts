// The slice of KubeVirt's kubevirt.io/v1 API the simulator reads and writes (field names as in
// kubevirt.io/api core/v1 types.go). Loose on purpose: unknown fields pass through untouched.
import type { V1ObjectMeta } from '@kubernetes/client-node';

export type RunStrategy = 'Always' | 'Halted' | 'Manual' | 'RerunOnFailure' | 'Once';
export type EvictionStrategy = 'None' | 'LiveMigrate' | 'LiveMigrateIfPossible' | 'External';
export type VmiPhase = '' | 'Pending' | 'Scheduling' | 'Scheduled' | 'Running' | 'Succeeded' | 'Failed';
export type MigrationPhase =
  | ''
  | 'Pending'
  | 'Scheduling'
  | 'Scheduled'
  | 'PreparingTarget'
  | 'TargetReady'
  | 'Running'
  | 'Succeeded'
  | 'Failed';

export interface Interface {
  name: string;
  bridge?: object;
  masquerade?: object;
  passt?: object;
  passtBinding?: object;
  binding?: { name: string };
  macAddress?: string;
  [field: string]: unknown;
}

export interface Network {
  name: string;
  pod?: object;
  multus?: { networkName: string; default?: boolean };
}

export interface VmiSpec {
  domain: {
    devices: { interfaces?: Interface[]; autoattachPodInterface?: boolean; [f: string]: unknown };
    [f: string]: unknown;
  };
  networks?: Network[];
  evictionStrategy?: EvictionStrategy;
  hostname?: string;
  [field: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string | null;
}

export interface InterfaceStatus {
  name?: string;
  mac?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  infoSource?: string;
  podInterfaceName?: string;
}

export interface MigrationState {
  migrationUid?: string;
  sourceNode?: string;
  sourcePod?: string;
  targetNode?: string;
  targetPod?: string;
  targetNodeAddress?: string;
  targetNodeDomainDetected?: boolean;
  targetNodeDomainReadyTimestamp?: string;
  startTimestamp?: string;
  endTimestamp?: string;
  mode?: 'PreCopy' | 'PostCopy';
  completed?: boolean;
  failed?: boolean;
  failureReason?: string;
}

export interface PhaseTransition<P> {
  phase: P;
  phaseTransitionTimestamp: string;
}

export interface VirtualMachineInstance {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: VmiSpec;
  status?: {
    phase?: VmiPhase;
    nodeName?: string;
    reason?: string;
    conditions?: Condition[];
    interfaces?: InterfaceStatus[];
    activePods?: Record<string, string>;
    migrationState?: MigrationState;
    evacuationNodeName?: string;
    phaseTransitionTimestamps?: PhaseTransition<VmiPhase>[];
    [field: string]: unknown;
  };
}

export interface StateChangeRequest {
  action: 'Start' | 'Stop';
  uid?: string;
  data?: Record<string, string>;
}

export interface VirtualMachine {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: {
    running?: boolean;
    runStrategy?: RunStrategy;
    template: { metadata?: V1ObjectMeta; spec: VmiSpec };
    [field: string]: unknown;
  };
  status?: {
    created?: boolean;
    ready?: boolean;
    printableStatus?: string;
    stateChangeRequests?: StateChangeRequest[];
    [field: string]: unknown;
  };
}

export interface VirtualMachineInstanceMigration {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: { vmiName: string; priority?: string; [field: string]: unknown };
  status?: {
    phase?: MigrationPhase;
    migrationState?: MigrationState;
    phaseTransitionTimestamps?: PhaseTransition<MigrationPhase>[];
    conditions?: Condition[];
  };
}
