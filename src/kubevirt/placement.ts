// Where a VM runs, read from KubeVirt's objects the way KubeVirt itself decides it: the VMI's
// status.nodeName and migrationState are authoritative. Pod creation timestamps are not (a Completed
// launcher pod that looks newest hid the running one in OVN-Kubernetes after a failed migration).
import type { Placement } from '../network/driver.js';
import { KubevirtAnnotations, KubevirtLabels, type Pod, type VirtualMachineInstance } from './resources.js';

export interface PlacementFacts {
  placement: Placement;
  /** When the target's domain became ready, in ms since the epoch, at the best precision KubeVirt gives. */
  targetReadyAtMs?: number;
  /** KubeVirt's migration record, for status (from/to/start/end). */
  migration?: {
    id: string;
    source: string;
    target?: string;
    startedAt?: string;
    endedAt?: string;
    completed: boolean;
    failed: boolean;
    failureReason?: string;
  };
}

const terminal = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

/**
 * The placement of a VMI given its virt-launcher pods (same namespace, `vm.kubevirt.io/name`).
 * Terminal migrations collapse to a plain node placement: completed → the target (now the VMI's
 * node), failed → the source, so a driver converges to one port either way.
 */
export function placementOf(vmi: VirtualMachineInstance | undefined, pods: Pod[]): PlacementFacts {
  if (!vmi || vmi.metadata.deletionTimestamp) return { placement: { kind: 'unscheduled' } };
  const phase = vmi.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return { placement: { kind: 'unscheduled' } };
  const node = vmi.status?.nodeName;
  if (!node) return { placement: { kind: 'unscheduled' } };

  // A migration under way: known from the VMI once KubeVirt prepares the target, and earlier from
  // the target pod itself, so that the target port is ready well before the cutover. A finished
  // migration's record stays on the VMI until the next one replaces it.
  const recorded = vmi.status?.migrationState;
  const finished = recorded?.migrationUid !== undefined && recorded.completed === true;
  // After a migration, its source pod (often an earlier migration's target, with that job's label
  // and ready annotation) runs on until virt-launcher exits: it is no new migration's target. Nor is
  // any pod already marked ready while the VMI records no migration in flight: KubeVirt names a
  // target in migrationState before it can become ready.
  const stale = (p: Pod) =>
    finished &&
    (p.metadata.name === recorded.sourcePod ||
      p.metadata.annotations?.[KubevirtAnnotations.migrationTargetReadyTimestamp] !== undefined);
  const targetPod = pods.find((p) => {
    const job = p.metadata.labels?.[KubevirtLabels.migrationJobUid];
    return (
      job !== undefined &&
      !(finished && job === recorded.migrationUid) &&
      !stale(p) &&
      !terminal(p) &&
      !p.metadata.deletionTimestamp &&
      (!finished && recorded?.targetPod ? p.metadata.name === recorded.targetPod : true) &&
      p.spec?.nodeName !== undefined &&
      p.spec.nodeName !== node
    );
  });
  if (finished && !targetPod) {
    const ms = recorded;
    const finishedTarget = pods.find(
      (p) => p.metadata.labels?.[KubevirtLabels.migrationJobUid] === ms.migrationUid,
    );
    return {
      placement: { kind: 'node', node: ms.failed ? (ms.sourceNode ?? node) : node },
      targetReadyAtMs: readyTimeMs(
        finishedTarget?.metadata.annotations?.[KubevirtAnnotations.migrationTargetReadyTimestamp],
        ms.targetNodeDomainReadyTimestamp,
      ),
      migration: {
        id: ms.migrationUid!,
        source: ms.sourceNode ?? node,
        target: ms.targetNode,
        startedAt: ms.startTimestamp,
        endedAt: ms.endTimestamp,
        completed: true,
        failed: ms.failed === true,
        failureReason: ms.failureReason,
      },
    };
  }
  const ms = finished ? undefined : recorded;
  const migrationId = ms?.migrationUid ?? targetPod?.metadata.labels?.[KubevirtLabels.migrationJobUid];
  const target = ms?.targetNode ?? targetPod?.spec?.nodeName;
  if (!migrationId || !target) return { placement: { kind: 'node', node } };

  const source = ms?.sourceNode ?? node;
  const readyAnnotation =
    targetPod?.metadata.annotations?.[KubevirtAnnotations.migrationTargetReadyTimestamp];
  const ready = ms?.targetNodeDomainReadyTimestamp !== undefined || readyAnnotation !== undefined;
  return {
    placement: {
      kind: 'migrating',
      source,
      target,
      phase: ready ? 'target-ready' : 'target-created',
      migrationId,
    },
    targetReadyAtMs: ready ? readyTimeMs(readyAnnotation, ms?.targetNodeDomainReadyTimestamp) : undefined,
    migration: {
      id: migrationId,
      source,
      target,
      startedAt: ms?.startTimestamp,
      completed: false,
      failed: false,
    },
  };
}

/**
 * When the target domain became ready, if KubeVirt recorded it finely enough to time a cutover.
 * KubeVirt copies the VMI's metav1.Time (whole seconds on the wire) into the pod annotation with Go's
 * time.String() ("2026-01-02 15:04:05 +0000 UTC"), so usually it did not: a whole-second time would
 * add up to a second of error. Then undefined, and the controller times from when it saw the state.
 */
export function readyTimeMs(
  annotation: string | undefined,
  vmiTimestamp: string | undefined,
): number | undefined {
  const m = annotation ? /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+) ([+-]\d{4})/.exec(annotation) : null;
  if (m) {
    const frac = m[3]!.slice(0, 4).padEnd(4, '0');
    const t = Date.parse(`${m[1]}T${m[2]}${frac}${m[4]!.slice(0, 3)}:${m[4]!.slice(3)}`);
    if (!Number.isNaN(t)) return t;
  }
  if (vmiTimestamp && /\.\d+/.test(vmiTimestamp)) {
    const t = Date.parse(vmiTimestamp);
    if (!Number.isNaN(t)) return t;
  }
  return undefined;
}

/**
 * The virt-launcher pods of a VMI: KubeVirt's launcher label plus the `kubevirt.io/domain`
 * annotation (the VMI name; `vm.kubevirt.io/name` holds the guest hostname, which may differ).
 */
export function launcherPodsOf(vmiName: string, pods: Pod[]): Pod[] {
  return pods.filter(
    (p) =>
      p.metadata.labels?.[KubevirtLabels.app] === KubevirtLabels.appLauncher &&
      (p.metadata.annotations?.[KubevirtAnnotations.domain] ?? p.metadata.labels?.[KubevirtLabels.vmName]) ===
        vmiName,
  );
}

/** True while any launcher pod of the VM may still run it (deletion waits for none). */
export function hasRunningLauncher(pods: Pod[]): boolean {
  return pods.some((p) => !terminal(p));
}
