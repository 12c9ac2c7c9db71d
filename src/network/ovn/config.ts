// What the OVN driver needs to know about the infra topology. The topology itself (cluster router,
// one switch per node, the rtos/stor port pair, gateway routers behind a join switch) belongs to
// OVN-Kubernetes; the defaults below are its names, so that the driver finds its rows as they are.
import type { ObjectRef } from '../driver.js';
import type { Logger, TlsOptions } from '../../ovsdb/index.js';

/**
 * How the shared gateway (169.254.1.1 at one MAC on every node) answers ARP.
 * - `mac-and-ip`: `options:arp_proxy="<MAC> <IP>"` on each node switch's router-type port (OVN ≥ 23.06).
 * - `shared-router-mac`: `options:arp_proxy="<IP>"` (OVN 23.03 takes IPs only and answers with the
 *   peer router port's MAC), so every `rtos-<node>` router port is given the shared MAC.
 * - `auto`: the best form the connected NB supports, read from its schema version.
 */
export type ArpProxyMode = 'auto' | 'mac-and-ip' | 'shared-router-mac';

export interface OvnTopologyNames {
  /** The distributed router every node switch hangs off. */
  clusterRouter: string;
  nodeSwitch(node: string): string;
  /** The router's port toward a node switch (`rtos-<node>`): south routes leave through it. */
  routerToSwitchPort(node: string): string;
  /** The inverse: the node a cluster-router port leads to, or undefined for any other port. */
  nodeOfRouterToSwitchPort(port: string): string | undefined;
  /** The node switch's router-type port (`stor-<node>`): it carries `arp_proxy`. */
  switchToRouterPort(node: string): string;
  /** The node gateway router's port on the join switch; its IP is the north (egress) next hop. */
  gatewayRouterJoinPort(node: string): string;
}

export interface OvnDriverOptions {
  /** NB remotes (`unix:…`, `tcp:…`, `ssl:…`). */
  nbRemotes: string | string[];
  /** Client certificate, key and CA (PEM) for `ssl:` remotes. */
  tls?: TlsOptions;
  names?: Partial<OvnTopologyNames>;
  arpProxy?: ArpProxyMode;
  /** Egress through the node that runs the VM: a reroute policy (OVN-Kubernetes' habit) or none. */
  north?: 'policy' | 'none';
  /**
   * Priority of the north reroute policy. Below OVN-Kubernetes' 102 "pod to pod: allow" policy, so
   * traffic inside the cluster network is routed normally and only egress is rerouted.
   */
  northPolicyPriority?: number;
  /**
   * Live migration handover. `two-ports` (OVN-Kubernetes' way, default): a port on the target
   * node's switch beside the source's, routes flip to it. `multi-chassis`: the VM keeps one port on
   * the switch it first landed on, requested on both chassis with `activation-strategy=rarp`; the
   * south route stays on that switch (OVN tunnels to the chassis), north flips to the running node.
   */
  migration?: 'two-ports' | 'multi-chassis';
  /**
   * multi-chassis mode: `rarp` (default) keeps the target chassis' copy of the port blocked until
   * the VM's RARP after the switch-over; `none` delivers to both chassis for the whole migration,
   * so the guest receives on whichever side it runs (duplicate copies die at the idle NIC).
   */
  multiChassisActivation?: 'rarp' | 'none';
  /**
   * Set: this shared gateway is set up on every node switch as soon as the driver sees it, before
   * any VM lands there. On OVN 23.03 that replaces the node router port's MAC (shared-router-mac),
   * and ordinary pods that learned the old MAC lose their gateway for the ~5 s their neighbour entry
   * takes to re-probe; done ahead, that happens once, at install or when a node joins, not when a
   * first VM lands. Unset: a node's gateway is set up with its first VM.
   */
  gatewayOnEveryNode?: { ipv4: string; mac: string };
  /** The OVN chassis name of an infra node (multi-chassis mode); default the node name. */
  chassisOf?(node: string): string;
  /** DHCP `cidr`: the VM's /32 (default; works with the on-link gateway route) or its pool prefix. */
  dhcpCidr?: 'host' | 'pool';
  defaultLeaseSeconds?: number;
  /** The logical switch port name of a VM on a node; unique per (machine, node). */
  vmPortName?(machine: ObjectRef, node: string): string;
  /** Retries of one sync after a guard fired (racing writer) or the connection was lost. */
  maxAttempts?: number;
  /** How long a sync waits for an NB session before failing. */
  waitForConnectionMs?: number;
  /** Client reconnect backoff. */
  backoff?: { initialMs: number; maxMs: number };
  /**
   * An OVSDB lock this driver takes on start; every transaction asserts it, so that of several
   * replicas (or a stale one after a leader change) only the holder writes. An <id>
   * (`[A-Za-z_][A-Za-z0-9_]*`), e.g. `capk_podnet`. Off by default.
   */
  writerLock?: string;
  logger?: Logger;
  /** Called after each committed sync: wait behind the machine's earlier calls, compose + diff, transaction (commit and cache). */
  onSync?(t: SyncTiming): void;
}

export interface SyncTiming {
  machine: string;
  ops: number;
  /** 'cutover': a migration's route flip, sent in a lane of its own. */
  lane: 'normal' | 'cutover';
  /**
   * Behind the same machine's earlier calls (they run one at a time), before this sync began; 0 for
   * a sync's later transactions.
   */
  waitMs: number;
  /** Compose and diff against the cache. */
  diffMs: number;
  /** Waiting for the lane, the NB transaction, and the cache showing it. */
  commitMs: number;
}

export interface OvnDriverConfig {
  nbRemotes: string | string[];
  tls?: TlsOptions;
  names: OvnTopologyNames;
  arpProxy: ArpProxyMode;
  north: 'policy' | 'none';
  northPolicyPriority: number;
  dhcpCidr: 'host' | 'pool';
  migration: 'two-ports' | 'multi-chassis';
  multiChassisActivation: 'rarp' | 'none';
  chassisOf(node: string): string;
  defaultLeaseSeconds: number;
  vmPortName(machine: ObjectRef, node: string): string;
  maxAttempts: number;
  waitForConnectionMs: number;
  backoff: { initialMs: number; maxMs: number };
  writerLock?: string;
  logger?: Logger;
  onSync?(t: SyncTiming): void;
  gatewayOnEveryNode?: { ipv4: string; mac: string };
}

/** OVN-Kubernetes' names (go-controller/pkg/types: OVNClusterRouter, RouterToSwitchPrefix, …). */
export const OVN_KUBERNETES_NAMES: OvnTopologyNames = {
  clusterRouter: 'ovn_cluster_router',
  nodeSwitch: (node) => node,
  routerToSwitchPort: (node) => `rtos-${node}`,
  nodeOfRouterToSwitchPort: (port) => (port.startsWith('rtos-') ? port.slice('rtos-'.length) : undefined),
  switchToRouterPort: (node) => `stor-${node}`,
  gatewayRouterJoinPort: (node) => `rtoj-GR_${node}`,
};

/**
 * The VM port of a machine on a node. It is also the node side's contract: the CNI binds the
 * virt-launcher pod's interface to this port (OVS `external_ids:iface-id`). Node last: the two ports
 * of one VM during a migration differ only there.
 */
export function defaultVmPortName(machine: ObjectRef, node: string): string {
  return `capk_${machine.namespace}_${machine.name}_${node}`;
}

export const DEFAULT_NORTH_POLICY_PRIORITY = 10;
/** OVN-Kubernetes' lease for KubeVirt VMs. */
export const DEFAULT_LEASE_SECONDS = 3500;

export function resolveConfig(o: OvnDriverOptions): OvnDriverConfig {
  const cfg: OvnDriverConfig = {
    nbRemotes: o.nbRemotes,
    ...(o.tls ? { tls: o.tls } : {}),
    names: { ...OVN_KUBERNETES_NAMES, ...o.names },
    arpProxy: o.arpProxy ?? 'auto',
    north: o.north ?? 'policy',
    northPolicyPriority: o.northPolicyPriority ?? DEFAULT_NORTH_POLICY_PRIORITY,
    dhcpCidr: o.dhcpCidr ?? 'host',
    migration: o.migration ?? 'two-ports',
    multiChassisActivation: o.multiChassisActivation ?? 'rarp',
    chassisOf: o.chassisOf ?? ((node) => node),
    defaultLeaseSeconds: o.defaultLeaseSeconds ?? DEFAULT_LEASE_SECONDS,
    vmPortName: o.vmPortName ?? defaultVmPortName,
    maxAttempts: o.maxAttempts ?? 5,
    waitForConnectionMs: o.waitForConnectionMs ?? 10_000,
    backoff: o.backoff ?? { initialMs: 100, maxMs: 2_000 },
  };
  if (o.writerLock !== undefined) {
    // RFC 7047 lock names are <id>s.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.writerLock))
      throw new Error(`writerLock "${o.writerLock}" is not an <id>`);
    cfg.writerLock = o.writerLock;
  }
  if (o.logger) cfg.logger = o.logger;
  if (o.onSync) cfg.onSync = o.onSync;
  if (o.gatewayOnEveryNode) cfg.gatewayOnEveryNode = o.gatewayOnEveryNode;
  return cfg;
}

/**
 * The arp_proxy form an NB schema supports. OVN 23.03 ships NB schema 7.0.0 and reads arp_proxy as
 * IPs only (a `MAC IP` value yields no ARP responder flow at all); 23.06 added the MAC form and a
 * newer schema. Anything newer than 7.0.0 is taken as ≥ 23.06.
 */
export function arpProxyFormFor(schemaVersion: string): 'mac-and-ip' | 'shared-router-mac' {
  const [major = 0, minor = 0, patch = 0] = schemaVersion.split('.').map((x) => Number.parseInt(x, 10));
  const newer = major !== 7 ? major > 7 : minor > 0 || patch > 0;
  return newer ? 'mac-and-ip' : 'shared-router-mac';
}
