// Pure parts of the machine network controller: the driver's desired state from what the API
// holds, and the next status.network (with the Events it implies) from what the driver observed.
import type { ClusterNetworkSpec, MachineNetworkStatus } from '../../api/network.js';
import type { PlacementFacts } from '../../kubevirt/placement.js';
import type { ObjectRef, VmNetworkObservation, VmNetworkSpec } from '../../network/driver.js';
import { isDeleting, type KubeObject } from '../../runtime/index.js';

/**
 * A MAC that follows from the stable IP (OVN-Kubernetes' `0a:58` + IPv4 bytes habit): unique as
 * the IP is, stable as the IP is, and known before the VM exists, with no state of its own.
 */
export function macForIPv4(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

export interface InfraDefaults {
  /** The infra cluster's DNS Service IP(s), used when spec.network.dnsServers is empty. */
  dnsServers: string[];
  mtu?: number;
  leaseSeconds?: number;
}

export function desiredVmNetwork(input: {
  cluster: ObjectRef;
  machine: ObjectRef;
  network: ClusterNetworkSpec;
  address: { ipv4: string; prefix: number };
  mac: string;
  facts: PlacementFacts;
  defaults: InfraDefaults;
}): VmNetworkSpec {
  const { network, defaults } = input;
  return {
    cluster: input.cluster,
    machine: input.machine,
    ipv4: input.address.ipv4,
    prefixLength: input.address.prefix,
    mac: input.mac,
    hostname: input.machine.name,
    gateway: { ipv4: network.gateway.ipv4, mac: network.gateway.mac },
    mtu: network.mtu ?? defaults.mtu,
    dnsServers: network.dnsServers?.length ? network.dnsServers : defaults.dnsServers,
    leaseSeconds: defaults.leaseSeconds,
    placement: input.facts.placement,
  };
}

export type MachineEvent = { type: 'Normal' | 'Warning'; reason: string; message: string };

/**
 * The next status.network and the Events that moving to it means. Level-based: derived from the
 * previous status and what is true now, so a repeated reconcile yields the same status and no Event.
 */
export function nextNetworkStatus(input: {
  prev: MachineNetworkStatus | undefined;
  spec: VmNetworkSpec;
  facts: PlacementFacts;
  observed: VmNetworkObservation;
  observedGeneration?: number;
  /** When the driver's write committed (ms since the epoch). */
  committedAtMs: number;
  /** When the routes flipped: the commit of the driver call that flipped them, this reconcile's or an earlier one. */
  cutoverCommittedAtMs?: number;
}): { status: MachineNetworkStatus; events: MachineEvent[] } {
  const { prev, spec, facts, observed } = input;
  const events: MachineEvent[] = [];
  const p = spec.placement;
  const phase: MachineNetworkStatus['phase'] =
    p.kind === 'migrating' ? 'Migrating' : observed.programmed && p.kind === 'node' ? 'Ready' : 'Pending';

  if (prev?.ipv4 !== spec.ipv4)
    events.push({ type: 'Normal', reason: 'IPAssigned', message: `assigned ${spec.ipv4}, MAC ${spec.mac}` });

  // One record per migration run, keyed by its source and target. Each milestone is recorded when
  // first seen true, even when reconciles saw only the end state of a quick migration.
  let lastMigration = prev?.lastMigration;
  const m = facts.migration;
  if (m?.target) {
    const now = new Date(input.committedAtMs).toISOString();
    // A finished record is this run only if KubeVirt's start time matches: a retry after a failed
    // run shares source and target.
    const sameRun =
      lastMigration?.from === m.source &&
      lastMigration.to === m.target &&
      (!lastMigration.completedAt ||
        (m.completed && (m.startedAt ?? lastMigration.startedAt) === lastMigration.startedAt));
    if (!sameRun) {
      lastMigration = { from: m.source, to: m.target, startedAt: m.startedAt ?? now };
      events.push({
        type: 'Normal',
        reason: 'MigrationStarted',
        message: `live migration ${m.source} → ${m.target}`,
      });
    }
    const before = lastMigration;
    const cutOver =
      !m.failed &&
      observed.routedTo === m.target &&
      (p.kind === 'migrating' ? p.phase === 'target-ready' : m.completed);
    if (cutOver && lastMigration!.cutoverMilliseconds === undefined) {
      const readyAt = facts.targetReadyAtMs ?? input.committedAtMs;
      const at = input.cutoverCommittedAtMs ?? input.committedAtMs;
      const ms = Math.max(0, Math.round(at - readyAt));
      lastMigration = { ...lastMigration, cutoverMilliseconds: ms };
      events.push({
        type: 'Normal',
        reason: 'MigrationCutOver',
        message: `routes moved to ${m.target} ${ms} ms after the target was ready`,
      });
    }
    if (m.completed && !lastMigration!.completedAt) {
      lastMigration = { ...lastMigration, completedAt: m.endedAt ?? now };
      events.push(
        m.failed
          ? {
              type: 'Warning',
              reason: 'MigrationFailed',
              message: `live migration to ${m.target} failed${m.failureReason ? `: ${m.failureReason}` : ''}; routes stay at ${m.source}`,
            }
          : { type: 'Normal', reason: 'MigrationCompleted', message: `now running on ${m.target}` },
      );
    }
    // KubeVirt's own start time, once it sets it, rides along with the next milestone: a status
    // write of its own would land just before the cutover and hold this machine's next reconcile.
    if (sameRun && m.startedAt && lastMigration!.startedAt !== m.startedAt && lastMigration !== before)
      lastMigration = { ...lastMigration!, startedAt: m.startedAt };
  }

  const status: MachineNetworkStatus = {
    ...(input.observedGeneration !== undefined ? { observedGeneration: input.observedGeneration } : {}),
    ipv4: spec.ipv4,
    mac: spec.mac,
    gateway: spec.gateway.ipv4,
    ...(observed.routedTo ? { node: observed.routedTo } : {}),
    phase,
    ...(lastMigration ? { lastMigration } : {}),
  };
  return { status, events };
}

/**
 * A claim of this machine's name that is not this machine's: being deleted, or controlled by another
 * KubevirtMachine (a machine of the same name deleted a moment ago). Its address is on its way out:
 * neither the machine nor its VM may take it.
 */
export function claimLeftByEarlierMachine(claim: KubeObject, machine: KubeObject): boolean {
  return (
    isDeleting(claim) ||
    (claim.metadata.ownerReferences ?? []).some(
      (r) => r.controller === true && r.kind === 'KubevirtMachine' && r.uid !== machine.metadata.uid,
    )
  );
}
