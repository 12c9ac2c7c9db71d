// Pure parts of the machine network controller: the driver's desired state from what the API
// holds, and the next status.network (with the Events it implies) from what the driver observed.
import type { ClusterNetworkSpec, MachineNetworkStatus } from '../../api/network.js';
import type { PlacementFacts } from '../../kubevirt/placement.js';
import type { ObjectRef, VmNetworkObservation, VmNetworkSpec } from '../../network/driver.js';

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
}): { status: MachineNetworkStatus; events: MachineEvent[] } {
  const { prev, spec, facts, observed } = input;
  const events: MachineEvent[] = [];
  const p = spec.placement;
  const phase: MachineNetworkStatus['phase'] =
    p.kind === 'migrating' ? 'Migrating' : observed.programmed && p.kind === 'node' ? 'Ready' : 'Pending';

  if (prev?.ipv4 !== spec.ipv4)
    events.push({ type: 'Normal', reason: 'IPAssigned', message: `assigned ${spec.ipv4}, MAC ${spec.mac}` });

  let lastMigration = prev?.lastMigration;
  const m = facts.migration;
  if (p.kind === 'migrating' && m) {
    const isNew =
      lastMigration?.from !== p.source || lastMigration?.to !== p.target || prev?.phase !== 'Migrating';
    if (isNew) {
      lastMigration = {
        from: p.source,
        to: p.target,
        startedAt: m.startedAt ?? new Date(input.committedAtMs).toISOString(),
      };
      events.push({
        type: 'Normal',
        reason: 'MigrationStarted',
        message: `live migration ${p.source} → ${p.target}`,
      });
    }
    if (
      p.phase === 'target-ready' &&
      observed.routedTo === p.target &&
      lastMigration?.cutoverMilliseconds === undefined
    ) {
      const readyAt = facts.targetReadyAtMs ?? input.committedAtMs;
      lastMigration = {
        ...lastMigration,
        cutoverMilliseconds: Math.max(0, Math.round(input.committedAtMs - readyAt)),
      };
      events.push({
        type: 'Normal',
        reason: 'MigrationCutOver',
        message: `routes moved to ${p.target} ${lastMigration.cutoverMilliseconds} ms after the target was ready`,
      });
    }
  } else if (prev?.phase === 'Migrating' && m?.completed) {
    lastMigration = {
      ...lastMigration,
      completedAt: m.endedAt ?? new Date(input.committedAtMs).toISOString(),
    };
    events.push(
      m.failed
        ? {
            type: 'Warning',
            reason: 'MigrationFailed',
            message: `live migration to ${m.target ?? 'target'} failed${m.failureReason ? `: ${m.failureReason}` : ''}; routes stay at ${m.source}`,
          }
        : {
            type: 'Normal',
            reason: 'MigrationCompleted',
            message: `now running on ${p.kind === 'node' ? p.node : m.target}`,
          },
    );
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
