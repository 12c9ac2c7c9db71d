// The seam between the machine network controller and whatever programs the infra network.
// The controller hands a driver the whole desired state of one VM's network (level-based, never
// an event) and writes what the driver observed into KubevirtMachine.status.network. An embedding
// platform picks a driver (OVN northbound, OVN-Kubernetes annotations, or its own).

/** Where the VM runs now, as the controller read it from KubeVirt. */
export type Placement =
  /** No virt-launcher pod is scheduled yet: nothing to route to. */
  | { kind: 'unscheduled' }
  | { kind: 'node'; node: string }
  /**
   * A live migration is under way. `target-created`: the target pod exists (prepare the target,
   * routes stay at the source). `target-ready`: the target domain is ready (routes flip to the
   * target). `completed`: the source is gone (drop the source side). `failed`: roll back to source.
   */
  | { kind: 'migrating'; source: string; target: string; phase: MigrationPhase; migrationId: string };

export type MigrationPhase = 'target-created' | 'target-ready' | 'completed' | 'failed';

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** Everything a driver needs to give one tenant VM its stable network. */
export interface VmNetworkSpec {
  /** The tenant cluster (KubevirtCluster) the VM belongs to; isolation and ownership key. */
  cluster: ObjectRef;
  /** The KubevirtMachine; its `namespace/name` is the VM's identity across restarts and migrations. */
  machine: ObjectRef;
  /** The VM's stable IPv4 address (from its IPAddress claim) and prefix of its pool. */
  ipv4: string;
  prefixLength: number;
  mac: string;
  /** DHCP hostname (the machine name). */
  hostname: string;
  gateway: { ipv4: string; mac: string };
  mtu?: number;
  dnsServers: string[];
  leaseSeconds?: number;
  placement: Placement;
}

/** What a driver saw after acting, for status and conditions. */
export interface VmNetworkObservation {
  /** True when the infra network serves the VM at its current placement. */
  programmed: boolean;
  /** The node that traffic to the VM is routed to now, if any. */
  routedTo?: string;
  /** Infra nodes that carry a port for the VM (two during a migration). */
  portNodes: string[];
  /** Why not programmed, as a condition reason (CamelCase) and a human message. */
  reason?: string;
  message?: string;
  /**
   * When this call's last write was committed (epoch ms): the moment a flip reached the network's
   * database, before the driver re-checks it. Absent when the call wrote nothing.
   */
  committedAtMs?: number;
}

export interface NetworkDriver {
  readonly name: string;
  /** Connects and primes caches; called once before the first ensure. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Converges the infra network on spec; idempotent: an unchanged spec writes nothing. */
  ensureVm(spec: VmNetworkSpec): Promise<VmNetworkObservation>;
  /** Removes everything the driver keeps for the machine; idempotent. */
  removeVm(machine: ObjectRef): Promise<void>;
  /**
   * Garbage-collects state owned by this driver whose machine is not in `live` (keys
   * `namespace/name`), e.g. after a restart or a deleted cluster. Returns how many objects went.
   */
  sweep(live: ReadonlySet<string>): Promise<number>;
}

export function machineKey(ref: ObjectRef): string {
  return `${ref.namespace}/${ref.name}`;
}
