// Pure functions: what KubeVirt's controllers would make of the objects they see. No I/O here;
// simulator.ts reads the world, calls these, and writes the result. Source paths are KubeVirt
// v1.9.0 (kubevirt.io/kubevirt pkg/…, kubevirt.io/api core/v1).
import { createHash } from 'node:crypto';
import type { V1OwnerReference, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import type {
  Condition,
  EvictionStrategy,
  Interface,
  InterfaceStatus,
  RunStrategy,
  VirtualMachine,
  VirtualMachineInstance,
  VirtualMachineInstanceMigration,
  VmiSpec,
} from './types.js';

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
export const KUBEVIRT_API_VERSION = `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`;

/** Label and annotation keys, as named in kubevirt.io/api core/v1 types.go. */
export const Keys = {
  app: 'kubevirt.io',
  createdBy: 'kubevirt.io/created-by',
  vmName: 'vm.kubevirt.io/name',
  vmiId: 'vmi.kubevirt.io/id',
  nodeName: 'kubevirt.io/nodeName',
  domain: 'kubevirt.io/domain',
  migrationJobUid: 'kubevirt.io/migrationJobUID',
  migrationJobName: 'kubevirt.io/migrationJobName',
  migrationTargetNodeName: 'kubevirt.io/migrationTargetNodeName',
  migrationTargetReadyTimestamp: 'kubevirt.io/migration-target-ready-timestamp',
  migrationTransportUnix: 'kubevirt.io/migrationTransportUnix',
  migrationVmiName: 'kubevirt.io/vmi-name',
  evacuationMigration: 'kubevirt.io/evacuationMigration',
  allowPodBridgeLiveMigration: 'kubevirt.io/allow-pod-bridge-network-live-migration',
  defaultContainer: 'kubectl.kubernetes.io/default-container',
  hostname: 'kubernetes.io/hostname',
} as const;

export const Finalizers = {
  /** Added by virt-api's VMI mutating webhook. */
  vmiForeground: 'kubevirt.io/foregroundDeleteVirtualMachine',
  /** Added by the VM controller to its VM and to the VMIs it creates. */
  vmController: 'kubevirt.io/virtualMachineControllerFinalize',
  /** Added by virt-api's migration mutating webhook. */
  migration: 'kubevirt.io/migrationJobFinalize',
} as const;

export const LAUNCHER_READINESS_GATE = 'kubevirt.io/virtual-machine-unpaused';
export const INTERFACE_NOT_LIVE_MIGRATABLE = 'InterfaceNotLiveMigratable';

/** metav1.Time as it travels in JSON: RFC 3339, whole seconds. */
export function metaTime(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Go's time.Time.String() of a metav1.Time read back from JSON (whole seconds, UTC):
 * what virt-controller writes into the migration-target-ready-timestamp annotation.
 */
export function goTimeString(rfc3339: string): string {
  const d = new Date(rfc3339);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000 UTC`
  );
}

/** pkg/virt-controller/watch/vm: `running` maps to Always/Halted; neither means Halted. */
export function runStrategyOf(vm: VirtualMachine): RunStrategy {
  if (vm.spec.runStrategy) return vm.spec.runStrategy;
  return vm.spec.running ? 'Always' : 'Halted';
}

export function controllerRef(
  obj: { metadata: { name?: string; uid?: string } },
  kind: string,
  apiVersion = KUBEVIRT_API_VERSION,
): V1OwnerReference {
  return {
    apiVersion,
    kind,
    name: obj.metadata.name!,
    uid: obj.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isControlledBy(
  obj: { metadata?: { ownerReferences?: V1OwnerReference[] } },
  uid: string,
): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.controller && r.uid === uid);
}

/**
 * virt-api's VMI mutating webhook (network/vmispec/defaults.go): a VMI with neither interfaces nor
 * networks gets the pod network with the cluster's default binding, which is bridge.
 */
export function withDefaultNetwork(spec: VmiSpec): VmiSpec {
  const devices = spec.domain.devices;
  const hasIfaces = (devices.interfaces ?? []).length > 0;
  const hasNets = (spec.networks ?? []).length > 0;
  if (hasIfaces || hasNets || devices.autoattachPodInterface === false) return spec;
  return {
    ...spec,
    domain: { ...spec.domain, devices: { ...devices, interfaces: [{ name: 'default', bridge: {} }] } },
    networks: [{ name: 'default', pod: {} }],
  };
}

/** watch/vm/vm.go SetupVMIFromVM, plus the finalizers the VM controller and the webhook add. */
export function vmiForVm(vm: VirtualMachine): VirtualMachineInstance {
  const tmpl = vm.spec.template;
  return {
    apiVersion: KUBEVIRT_API_VERSION,
    kind: 'VirtualMachineInstance',
    metadata: {
      name: vm.metadata.name!,
      namespace: vm.metadata.namespace!,
      labels: { ...(tmpl.metadata?.labels ?? {}) },
      annotations: { ...(tmpl.metadata?.annotations ?? {}) },
      ownerReferences: [controllerRef(vm, 'VirtualMachine')],
      finalizers: [Finalizers.vmiForeground, Finalizers.vmController],
    },
    spec: withDefaultNetwork(structuredClone(tmpl.spec)),
  };
}

/** pkg/apimachinery/labels.go CalculateVirtualMachineInstanceID. */
export function vmiId(name: string): string {
  if (name.length <= 63) return name;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, 63 - 8 - 1)}-${hash}`;
}

/** pkg/util/net/dns SanitizeHostname. */
export function launcherHostname(vmi: VirtualMachineInstance): string {
  if (vmi.spec.hostname) return vmi.spec.hostname;
  return vmi.metadata.name!.split('.')[0]!.slice(0, 63);
}

/** services/template.go filterVMIAnnotationsForPod. */
function podAnnotationsFrom(vmiAnnotations: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vmiAnnotations)) {
    if (
      k.startsWith('kubectl.kubernetes.io') ||
      k.startsWith('kubevirt.io/storage-observed-api-version') ||
      k.startsWith('kubevirt.io/latest-observed-api-version')
    )
      continue;
    out[k] = v;
  }
  return out;
}

/**
 * services/template.go renderLaunchManifest, reduced to what the API shows: name prefix, labels,
 * annotations, owner, readiness gate, the `compute` container. For a migration target
 * (watch/migration createTargetPod) the job's UID label and name annotation are added.
 */
export function launcherPod(vmi: VirtualMachineInstance, migration?: VirtualMachineInstanceMigration): V1Pod {
  const name = vmi.metadata.name!;
  const labels: Record<string, string> = {
    ...(vmi.metadata.labels ?? {}),
    [Keys.app]: 'virt-launcher',
    [Keys.createdBy]: vmi.metadata.uid!,
    [Keys.vmName]: launcherHostname(vmi),
    [Keys.vmiId]: vmiId(name),
  };
  const annotations: Record<string, string> = {
    [Keys.domain]: name,
    ...podAnnotationsFrom(vmi.metadata.annotations ?? {}),
    [Keys.defaultContainer]: 'compute',
    [Keys.migrationTransportUnix]: 'true',
  };
  if (migration) {
    labels[Keys.migrationJobUid] = migration.metadata.uid!;
    annotations[Keys.migrationJobName] = migration.metadata.name!;
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `virt-launcher-${name}-`,
      namespace: vmi.metadata.namespace!,
      labels,
      annotations,
      ownerReferences: [controllerRef(vmi, 'VirtualMachineInstance')],
    },
    spec: {
      hostname: launcherHostname(vmi),
      restartPolicy: 'Never',
      readinessGates: [{ conditionType: LAUNCHER_READINESS_GATE }],
      containers: [{ name: 'compute', image: 'quay.io/kubevirt/virt-launcher:v1.9.0' }],
      enableServiceLinks: false,
    },
  };
}

export function isMigrationTargetPod(pod: V1Pod): boolean {
  return pod.metadata?.labels?.[Keys.migrationJobUid] !== undefined;
}

export function isPodFinal(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** controller.go IsPodReady, reduced: Running, and every container ready. */
export function isPodReady(pod: V1Pod): boolean {
  if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return false;
  return (
    (pod.status.containerStatuses ?? []).length > 0 && pod.status.containerStatuses!.every((c) => c.ready)
  );
}

/** The kubelet's status for a started launcher pod (readiness gate set by virt-handler). */
export function runningPodStatus(pod: V1Pod, now: string, hostIP: string, podIPs: string[]): V1Pod['status'] {
  const cond = (type: string): V1PodCondition => ({
    type,
    status: 'True',
    lastTransitionTime: now as unknown as Date,
  });
  return {
    ...(pod.status ?? {}),
    phase: 'Running',
    hostIP,
    hostIPs: [{ ip: hostIP }],
    ...(podIPs.length ? { podIP: podIPs[0], podIPs: podIPs.map((ip) => ({ ip })) } : {}),
    startTime: now as unknown as Date,
    conditions: [
      cond('PodReadyToStartContainers'),
      cond('Initialized'),
      cond(LAUNCHER_READINESS_GATE),
      cond('Ready'),
      cond('ContainersReady'),
      cond('PodScheduled'),
    ],
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: true,
      restartCount: 0,
      started: true,
      state: { running: { startedAt: now as unknown as Date } },
    })),
  };
}

/** The kubelet's status once virt-launcher exited: phase Succeeded ("Completed") or Failed. */
export function finishedPodStatus(pod: V1Pod, now: string, phase: 'Succeeded' | 'Failed'): V1Pod['status'] {
  const exitCode = phase === 'Succeeded' ? 0 : 1;
  return {
    ...(pod.status ?? {}),
    phase,
    conditions: (pod.status?.conditions ?? []).map((c) =>
      c.type === 'Ready' || c.type === 'ContainersReady'
        ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: now as unknown as Date }
        : c,
    ),
    containerStatuses: (pod.status?.containerStatuses ?? []).map((c) => ({
      ...c,
      ready: false,
      started: false,
      state: {
        terminated: {
          exitCode,
          reason: phase === 'Succeeded' ? 'Completed' : 'Error',
          finishedAt: now as unknown as Date,
        },
      },
    })),
  };
}

/** A scheduler that cannot place the pod says so on the PodScheduled condition. */
export function unschedulablePodStatus(pod: V1Pod, now: string, message: string): V1Pod['status'] {
  return {
    ...(pod.status ?? {}),
    phase: 'Pending',
    conditions: [
      {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message,
        lastTransitionTime: now as unknown as Date,
      },
    ],
  };
}

function podNetworkInterface(vmi: VirtualMachineInstance): Interface | undefined {
  const podNet = (vmi.spec.networks ?? []).find((n) => n.pod !== undefined);
  if (!podNet) return undefined;
  return (vmi.spec.domain.devices.interfaces ?? []).find((i) => i.name === podNet.name);
}

/**
 * virt-handler vm.go calculateLiveMigrationCondition, network part (network/vmispec/interface.go):
 * bridge on the pod network is migratable only with the allow annotation on the VMI; masquerade
 * and passt are; a binding plugin is if configured with migration support.
 */
export function liveMigratableCondition(
  vmi: VirtualMachineInstance,
  migratableBindings: readonly string[] = [],
): Condition {
  const ok: Condition = {
    type: 'LiveMigratable',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: null,
  };
  if ((vmi.spec.networks ?? []).every((n) => n.pod === undefined)) return ok;
  const iface = podNetworkInterface(vmi);
  if (iface?.masquerade || iface?.passtBinding || iface?.passt) return ok;
  if (iface?.bridge && vmi.metadata.annotations?.[Keys.allowPodBridgeLiveMigration] !== undefined) return ok;
  if (iface?.binding && migratableBindings.includes(iface.binding.name)) return ok;
  return {
    type: 'LiveMigratable',
    status: 'False',
    reason: INTERFACE_NOT_LIVE_MIGRATABLE,
    message: iface
      ? 'cannot migrate VMI which does not use masquerade or a migratable plugin to connect to the pod network'
      : `no primary interface found for network ${(vmi.spec.networks ?? []).find((n) => n.pod)?.name}`,
    lastProbeTime: null,
    lastTransitionTime: null,
  };
}

export function isTrue(conditions: Condition[] | undefined, type: string): boolean {
  return (conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** pkg/util/migrations VMIEvictionStrategy: the VMI's own, else the cluster's. */
export function evictionStrategyOf(
  vmi: VirtualMachineInstance,
  clusterDefault: EvictionStrategy | undefined,
): EvictionStrategy | undefined {
  return vmi.spec.evictionStrategy ?? clusterDefault;
}

/** pkg/util/migrations VMIMigratableOnEviction: what the evacuation controller migrates. */
export function migratesOnEviction(
  vmi: VirtualMachineInstance,
  clusterDefault: EvictionStrategy | undefined,
): boolean {
  const s = evictionStrategyOf(vmi, clusterDefault);
  if (s === 'LiveMigrate') return true;
  if (s === 'LiveMigrateIfPossible') return isTrue(vmi.status?.conditions, 'LiveMigratable');
  return false;
}

export type EvictionVerdict = { kind: 'allow' } | { kind: 'mark' } | { kind: 'deny'; reason: string };

/**
 * virt-api pod-eviction-admitter.go: for the VMI's current launcher pod, LiveMigrate (when
 * migratable), LiveMigrateIfPossible (when migratable) and External mark the VMI for evacuation
 * and deny the eviction with 429; anything else lets the pod go.
 */
export function evictionVerdict(
  vmi: VirtualMachineInstance,
  pod: V1Pod,
  clusterDefault: EvictionStrategy | undefined,
): EvictionVerdict {
  const strategy = evictionStrategyOf(vmi, clusterDefault);
  const migratable = isTrue(vmi.status?.conditions, 'LiveMigratable');
  let mark = false;
  if (strategy === 'LiveMigrate') {
    if (!migratable) {
      return {
        kind: 'deny',
        reason: `VMI ${vmi.metadata.name} is configured with an eviction strategy but is not live-migratable`,
      };
    }
    mark = true;
  } else if (strategy === 'LiveMigrateIfPossible') mark = migratable;
  else if (strategy === 'External') mark = true;
  if (!mark) return { kind: 'allow' };
  const ns = vmi.metadata.namespace;
  if (vmi.status?.evacuationNodeName) {
    return {
      kind: 'deny',
      reason: `Evacuation in progress: Eviction triggered evacuation of VMI "${ns}/${vmi.metadata.name}"`,
    };
  }
  if (vmi.status?.nodeName !== pod.spec?.nodeName)
    return { kind: 'deny', reason: 'Eviction request for target Pod' };
  return { kind: 'mark' };
}

/** drain/evacuation GenerateNewMigration. */
export function evacuationMigration(
  vmi: VirtualMachineInstance,
  node: string,
): VirtualMachineInstanceMigration {
  return {
    apiVersion: KUBEVIRT_API_VERSION,
    kind: 'VirtualMachineInstanceMigration',
    metadata: {
      generateName: 'kubevirt-evacuation-',
      namespace: vmi.metadata.namespace!,
      annotations: { [Keys.evacuationMigration]: node },
    },
    spec: { vmiName: vmi.metadata.name!, priority: 'system-critical' },
  };
}

/** A stable locally administered MAC for an interface without one (libvirt would pick one). */
export function generatedMac(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  const bytes = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface GuestNetworkInfo {
  /** Addresses the guest reports on this interface, first one primary. */
  ips?: string[];
  /** MAC as seen in the guest, when the network decides it (template macAddress wins). */
  mac?: string;
}

/** virt-handler's interface status (network/vmispec infosource): domain MACs plus guest IPs. */
export function interfaceStatuses(
  vmi: VirtualMachineInstance,
  info: (iface: Interface) => GuestNetworkInfo | undefined,
): InterfaceStatus[] {
  const podNet = (vmi.spec.networks ?? []).find((n) => n.pod !== undefined)?.name;
  return (vmi.spec.domain.devices.interfaces ?? []).map((iface) => {
    const got = info(iface);
    const ips = got?.ips ?? [];
    const status: InterfaceStatus = {
      name: iface.name,
      mac: iface.macAddress ?? got?.mac ?? generatedMac(`${vmi.metadata.uid}/${iface.name}`),
      infoSource: ips.length ? 'domain, guest-agent' : 'domain',
    };
    if (ips.length) {
      status.ipAddress = ips[0];
      status.ipAddresses = ips;
    }
    if (iface.name === podNet) status.podInterfaceName = 'eth0';
    return status;
  });
}

export interface PlacementInput {
  nodes: { name: string; schedulable: boolean }[];
  /** Live (non-final) launcher pods per node. */
  load: Map<string, number>;
  /** Nodes the pod must avoid (the migration target avoids its VMI's other pods' nodes). */
  avoid: Set<string>;
}

/** Simple spread: the schedulable node with the fewest live launcher pods, ties by name. */
export function pickNode({ nodes, load, avoid }: PlacementInput): string | undefined {
  const candidates = nodes
    .filter((n) => n.schedulable && !avoid.has(n.name))
    .sort((a, b) => (load.get(a.name) ?? 0) - (load.get(b.name) ?? 0) || a.name.localeCompare(b.name));
  return candidates[0]?.name;
}

/** VM printableStatus, reduced to the states the simulator produces. */
export function printableStatus(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): string {
  if (vm.metadata.deletionTimestamp) return 'Terminating';
  if (!vmi) return 'Stopped';
  if (vmi.metadata.deletionTimestamp) return 'Stopping';
  const migrating = vmi.status?.migrationState && !vmi.status.migrationState.completed;
  switch (vmi.status?.phase) {
    case 'Running':
      return migrating ? 'Migrating' : 'Running';
    case 'Succeeded':
      return 'Stopped';
    case 'Failed':
      return 'CrashLoopBackOff';
    default:
      return 'Starting';
  }
}
