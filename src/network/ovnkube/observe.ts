// What OVN-Kubernetes did for one VM, read from KubeVirt's objects (pure). OVN-Kubernetes gives
// every virt-launcher pod its own port (two during a live migration: the target pod gets a copy of
// the source pod's `k8s.ovn.org/pod-networks`) and sends traffic to the pod that runs the VM. Which
// pod that is comes from KubeVirt: the VMI's `status.nodeName`, or, once the target domain is ready
// (`kubevirt.io/migration-target-ready-timestamp`), the migration target. Completed and deleted pods
// never count (OVN-Kubernetes once let a Completed pod from a failed migration hide the running one).
import { KubevirtAnnotations, KubevirtLabels, type Pod } from '../../kubevirt/resources.js';
import type { VirtualMachineInstance } from '../../kubevirt/resources.js';
import type { VmNetworkObservation, VmNetworkSpec } from '../driver.js';
import {
  DEFAULT_NETWORK_ANNOTATION,
  entryIps,
  parsePodNetworks,
  POD_NETWORKS_ANNOTATION,
  primaryEntry,
  sameMac,
  type PodNetworkEntry,
} from './annotations.js';

const live = (p: Pod) =>
  !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

/** The launcher pods of this VMI (by `kubevirt.io/created-by` = VMI UID) that may still run it. */
export function livePodsOf(vmi: VirtualMachineInstance, pods: Pod[]): Pod[] {
  return pods.filter(
    (p) =>
      p.metadata.labels?.[KubevirtLabels.app] === KubevirtLabels.appLauncher &&
      p.metadata.labels[KubevirtLabels.createdBy] === vmi.metadata.uid &&
      p.spec?.nodeName !== undefined &&
      live(p),
  );
}

/** The pod traffic goes to: a ready migration target, else the pod on the VMI's node. */
export function activePod(vmi: VirtualMachineInstance, pods: Pod[]): Pod | undefined {
  const candidates = livePodsOf(vmi, pods);
  const readyTarget = candidates.find(
    (p) =>
      p.metadata.labels?.[KubevirtLabels.migrationJobUid] !== undefined &&
      p.metadata.annotations?.[KubevirtAnnotations.migrationTargetReadyTimestamp] !== undefined &&
      p.spec?.nodeName !== vmi.status?.nodeName,
  );
  if (readyTarget) return readyTarget;
  const node = vmi.status?.nodeName;
  return node ? candidates.find((p) => p.spec?.nodeName === node) : undefined;
}

type Read = { ok: true; entry: PodNetworkEntry } | { ok: false; reason: string; message: string };

function readPod(p: Pod): Read {
  const parsed = parsePodNetworks(p.metadata.annotations?.[POD_NETWORKS_ANNOTATION]);
  if (!parsed)
    return {
      ok: false,
      reason: 'PodNetworkPending',
      message: `pod ${p.metadata.name} on ${p.spec?.nodeName} has no ${POD_NETWORKS_ANNOTATION} yet`,
    };
  if (!parsed.ok) return { ok: false, reason: 'InvalidPodNetworks', message: parsed.error };
  const primary = primaryEntry(parsed.value);
  if (!primary)
    return {
      ok: false,
      reason: 'InvalidPodNetworks',
      message: `pod ${p.metadata.name}: ${POD_NETWORKS_ANNOTATION} has no primary or default network`,
    };
  return { ok: true, entry: primary.entry };
}

/**
 * The observation for `spec` given the VMI and the pods of its namespace. `programmed` when the
 * active pod holds the claimed IP and MAC; IPMismatch / MACMismatch when OVN-Kubernetes gave it
 * something else (on the default network OVN-Kubernetes allocates the IP itself, so a VM started
 * without its earlier IP still alive shows up here).
 */
export function observeVm(
  spec: VmNetworkSpec,
  vmi: VirtualMachineInstance | undefined,
  pods: Pod[],
): VmNetworkObservation {
  if (!vmi || spec.placement.kind === 'unscheduled')
    return {
      programmed: false,
      portNodes: [],
      reason: 'Unscheduled',
      message: 'no virt-launcher pod is scheduled',
    };
  const livePods = livePodsOf(vmi, pods);
  // OVN-Kubernetes has a port for each live pod it annotated.
  const reads = livePods.map((p) => ({ pod: p, read: readPod(p) }));
  const portNodes = [...new Set(reads.filter((r) => r.read.ok).map((r) => r.pod.spec!.nodeName!))].sort();
  const active = activePod(vmi, pods);
  if (!active)
    return {
      programmed: false,
      portNodes,
      reason: 'Unscheduled',
      message: `no running virt-launcher pod on ${vmi.status?.nodeName ?? 'any node'}`,
    };
  const routedTo = active.spec!.nodeName!;
  const base = { programmed: false, portNodes, routedTo };
  // The active pod first, then any other pod (a migration target carrying a copy).
  for (const { pod, read } of [...reads].sort((a, b) => (a.pod === active ? -1 : b.pod === active ? 1 : 0))) {
    if (!read.ok) {
      if (pod === active) return { ...base, reason: read.reason, message: read.message };
      continue;
    }
    const ips = entryIps(read.entry);
    const where = `pod ${pod.metadata.name} on ${pod.spec?.nodeName}`;
    if (!ips.includes(spec.ipv4)) {
      const requested = pod.metadata.annotations?.[DEFAULT_NETWORK_ANNOTATION] !== undefined;
      return {
        ...base,
        reason: 'IPMismatch',
        message:
          `OVN-Kubernetes gave ${where} ${ips.join(', ') || 'no IP'}, the claim is ${spec.ipv4}` +
          (requested
            ? ' (OVN-Kubernetes allocates default-network IPs itself; a restart keeps the IP only on a primary UDN)'
            : ' (the pod predates the address request on the VM template; it applies at the next VM start)'),
      };
    }
    if (!sameMac(read.entry.mac_address, spec.mac)) {
      return {
        ...base,
        reason: 'MACMismatch',
        message: `OVN-Kubernetes gave ${where} MAC ${read.entry.mac_address}, the machine's is ${spec.mac}`,
      };
    }
  }
  return { programmed: true, portNodes, routedTo };
}
