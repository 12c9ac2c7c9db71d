// KubeVirt's kinds as capk-podnet reads them: only the fields it uses, with KubeVirt's names.
import type { KubeObject, ResourceRef } from '../runtime/index.js';

const kubevirt = (kind: string, plural: string): ResourceRef => ({
  group: 'kubevirt.io',
  version: 'v1',
  kind,
  plural,
  namespaced: true,
});

export const VirtualMachines = kubevirt('VirtualMachine', 'virtualmachines');
export const VirtualMachineInstances = kubevirt('VirtualMachineInstance', 'virtualmachineinstances');
export const VirtualMachineInstanceMigrations = kubevirt(
  'VirtualMachineInstanceMigration',
  'virtualmachineinstancemigrations',
);

/** Labels and annotations KubeVirt puts on VMIs and virt-launcher pods (same names as KubeVirt's). */
export const KubevirtLabels = {
  app: 'kubevirt.io',
  appLauncher: 'virt-launcher',
  createdBy: 'kubevirt.io/created-by',
  vmName: 'vm.kubevirt.io/name',
  nodeName: 'kubevirt.io/nodeName',
  migrationJobUid: 'kubevirt.io/migrationJobUID',
  vmiName: 'kubevirt.io/vmi-name',
} as const;

export const KubevirtAnnotations = {
  domain: 'kubevirt.io/domain',
  migrationTargetReadyTimestamp: 'kubevirt.io/migration-target-ready-timestamp',
  allowPodBridgeLiveMigration: 'kubevirt.io/allow-pod-bridge-network-live-migration',
} as const;

export interface MigrationState {
  migrationUid?: string;
  sourceNode?: string;
  targetNode?: string;
  sourcePod?: string;
  targetPod?: string;
  startTimestamp?: string;
  endTimestamp?: string;
  targetNodeDomainDetected?: boolean;
  targetNodeDomainReadyTimestamp?: string;
  completed?: boolean;
  failed?: boolean;
  failureReason?: string;
}

export interface VirtualMachineInstance extends KubeObject {
  status?: {
    phase?: string;
    nodeName?: string;
    migrationState?: MigrationState;
    interfaces?: { name?: string; mac?: string; ipAddress?: string; ipAddresses?: string[] }[];
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    activePods?: Record<string, string>;
  };
}

export interface VirtualMachine extends KubeObject {
  spec?: {
    running?: boolean;
    runStrategy?: string;
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: {
        domain?: { devices?: { interfaces?: VmInterface[]; [k: string]: unknown }; [k: string]: unknown };
        networks?: { name: string; pod?: object; multus?: object }[];
        [k: string]: unknown;
      };
    };
    [k: string]: unknown;
  };
}

export interface VmInterface {
  name: string;
  bridge?: object;
  masquerade?: object;
  macAddress?: string;
  [k: string]: unknown;
}

export interface Pod extends KubeObject {
  spec?: { nodeName?: string; [k: string]: unknown };
  status?: { phase?: string; [k: string]: unknown };
}
