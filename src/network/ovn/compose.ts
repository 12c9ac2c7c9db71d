// Pure: from one VM's desired network (VmNetworkSpec) to the NB rows that serve it. No I/O here; the
// topology facts compose needs (which node switches exist, each node's egress next hop) come in as a
// TopologyView, so that every case is a table test.
import type { MigrationPhase, Placement, VmNetworkSpec } from '../driver.js';
import { machineKey } from '../driver.js';
import type { OvnDriverConfig } from './config.js';
import { CHASSIS_NODES, NEIGHBOUR, NODE, egressIds, neighbourId, ownedIds, poolPolicyIds } from './ids.js';

export interface TopologyView {
  hasNodeSwitch(node: string): boolean;
  /** multi-chassis mode: the node whose switch holds the VM's one port now, if it exists. */
  portAnchor?(machine: string): string | undefined;
  /** The IP that egress from VMs on this node is rerouted to (the node gateway router's join IP). */
  northNexthop(node: string): string | undefined;
  /** Every node switch's subnet (where pods live), from the cluster router's ports toward them. */
  nodeSubnets?(): string[];
}

export interface DesiredPort {
  name: string;
  node: string;
  switchName: string;
  addresses: string[];
  portSecurity: string[];
  /** LSP options: empty with two ports; requested-chassis (+ activation-strategy) with one. */
  options: Record<string, string>;
  externalIds: Record<string, string>;
}

export interface DesiredDhcp {
  cidr: string;
  options: Record<string, string>;
  externalIds: Record<string, string>;
}

/** South: the /32 toward the node that runs the VM. */
export interface DesiredRoute {
  ipPrefix: string;
  nexthop: string;
  outputPort: string;
  externalIds: Record<string, string>;
}

/**
 * North: egress from the VM rerouted to the gateway of the node that runs it (`reroute`); and the
 * traffic that stays inside, let through above it (`allow`, no next hop).
 */
export interface DesiredPolicy {
  priority: number;
  match: string;
  action: 'reroute' | 'allow';
  nexthop?: string;
  externalIds: Record<string, string>;
}

/**
 * The cluster router drops what no route matches before any policy runs, and a VM pool lies outside
 * every node subnet (whose src-ip routes OVN-Kubernetes keeps). One src-ip route for the pool per
 * tenant cluster lets egress be routed at all; the VM's north policy then picks its node's gateway.
 * Its prefix is shorter than a /32, so connected node subnets still win for traffic inside the cluster.
 */
export interface DesiredEgress {
  ipPrefix: string;
  nexthop: string;
  externalIds: Record<string, string>;
}

/** A router-side neighbour entry (Static_MAC_Binding) for the VM on a node's router port. */
export interface DesiredNeighbour {
  logicalPort: string;
  ip: string;
  mac: string;
}

export interface DesiredVm {
  machine: string;
  ports: DesiredPort[];
  dhcp?: DesiredDhcp;
  south?: DesiredRoute;
  north?: DesiredPolicy;
  /**
   * Above north: pods (node subnets) and the tenant's own VMs (its pool) are routed directly, wherever
   * the pool lies. OVN-Kubernetes' pod-to-pod allow covers only a pool inside the cluster network;
   * without this, replies to pods from any other pool were rerouted to the gateway router. (A positive
   * set: a negated one in the north match would expand to a cross product of flows.) Shared by the
   * pool's VMs: created by the first, kept current by the driver when nodes come and go.
   */
  poolPolicy?: DesiredPolicy;
  egress?: DesiredEgress;
  neighbours: DesiredNeighbour[];
  /** Node whose router port the south route uses. */
  routedTo?: string;
  /** Nodes whose switch needs the shared gateway. */
  gatewayNodes: string[];
}

export type ComposeResult =
  { ok: true; vm: DesiredVm } | { ok: false; reason: string; message: string; retryable: boolean };

/** Nodes that carry a port for the VM and the node its routes point at, per placement. */
export function placementNodes(p: Placement): { portNodes: string[]; routedTo?: string } {
  switch (p.kind) {
    case 'unscheduled':
      return { portNodes: [] };
    case 'node':
      return { portNodes: [p.node], routedTo: p.node };
    case 'migrating': {
      const both = p.source === p.target ? [p.source] : [p.source, p.target];
      const byPhase: Record<MigrationPhase, { portNodes: string[]; routedTo: string }> = {
        // Target port ready to take over; traffic still goes to the source.
        'target-created': { portNodes: both, routedTo: p.source },
        // The flip: routes go to the target while the source port still exists.
        'target-ready': { portNodes: both, routedTo: p.target },
        completed: { portNodes: [p.target], routedTo: p.target },
        failed: { portNodes: [p.source], routedTo: p.source },
      };
      return byPhase[p.phase];
    }
  }
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOSTNAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}
/** `10.244.100.5`, 24 → `10.244.100.0/24`. */
export function networkOf(ip: string, prefixLength: number): string {
  const size = 2 ** (32 - prefixLength);
  return `${intToIp(Math.floor(ipToInt(ip) / size) * size)}/${prefixLength}`;
}

/** Spec problems that no retry fixes; undefined when the spec is usable. */
export function validateSpec(spec: VmNetworkSpec): string | undefined {
  if (!isIpv4(spec.ipv4)) return `ipv4 "${spec.ipv4}" is not an IPv4 address`;
  if (!Number.isInteger(spec.prefixLength) || spec.prefixLength < 1 || spec.prefixLength > 32)
    return `prefixLength ${spec.prefixLength} is not in 1..32`;
  if (!MAC_RE.test(spec.mac)) return `mac "${spec.mac}" is not a lower-case colon-separated MAC`;
  if (!isIpv4(spec.gateway.ipv4)) return `gateway ${spec.gateway.ipv4} is not an IPv4 address`;
  if (!MAC_RE.test(spec.gateway.mac)) return `gateway mac "${spec.gateway.mac}" is not a lower-case MAC`;
  if (!HOSTNAME_RE.test(spec.hostname)) return `hostname "${spec.hostname}" is not a DNS name`;
  const bad = spec.dnsServers.find((d) => !isIpv4(d));
  if (bad) return `dns server "${bad}" is not an IPv4 address`;
  if (spec.mtu !== undefined && (!Number.isInteger(spec.mtu) || spec.mtu < 576 || spec.mtu > 65535))
    return `mtu ${spec.mtu} is not in 576..65535`;
  return undefined;
}

/**
 * DHCP_Options answering the VM from its port. With a /32 the VM has no on-link subnet, so option
 * 121 carries an on-link host route to the gateway first, then the default route through it.
 */
export function composeDhcpOptions(spec: VmNetworkSpec, cfg: OvnDriverConfig): DesiredDhcp {
  const gw = spec.gateway;
  const options: Record<string, string> = {
    lease_time: String(spec.leaseSeconds ?? cfg.defaultLeaseSeconds),
    router: gw.ipv4,
    server_id: gw.ipv4,
    server_mac: gw.mac,
    // OVN types hostname as a string option: the value must carry its own quotes.
    hostname: `"${spec.hostname}"`,
    classless_static_route: `{${gw.ipv4}/32,0.0.0.0, 0.0.0.0/0,${gw.ipv4}}`,
  };
  if (spec.mtu !== undefined) options.mtu = String(spec.mtu);
  if (spec.dnsServers.length) options.dns_server = `{${spec.dnsServers.join(', ')}}`;
  return {
    cidr: cfg.dhcpCidr === 'pool' ? networkOf(spec.ipv4, spec.prefixLength) : `${spec.ipv4}/32`,
    options,
    externalIds: ownedIds(spec, 'dhcp'),
  };
}

export function composeVm(spec: VmNetworkSpec, cfg: OvnDriverConfig, topo: TopologyView): ComposeResult {
  const invalid = validateSpec(spec);
  if (invalid) return { ok: false, reason: 'InvalidSpec', message: invalid, retryable: false };
  const { portNodes, routedTo } = placementNodes(spec.placement);
  const missing = portNodes.filter((n) => !topo.hasNodeSwitch(n));
  if (missing.length) {
    return {
      ok: false,
      reason: 'NodeSwitchMissing',
      message: `no logical switch for node ${missing.join(', ')} (${missing.map((n) => cfg.names.nodeSwitch(n)).join(', ')})`,
      retryable: true,
    };
  }
  const vm: DesiredVm = {
    machine: machineKey(spec.machine),
    ports: [],
    neighbours: [],
    gatewayNodes: portNodes,
  };
  if (portNodes.length === 0) return { ok: true, vm };

  const address = `${spec.mac} ${spec.ipv4}`;
  const port = (node: string, options: Record<string, string>, extra: Record<string, string>): void => {
    const routerPort = cfg.names.routerToSwitchPort(node);
    vm.ports.push({
      name: cfg.vmPortName(spec.machine, node),
      node,
      switchName: cfg.names.nodeSwitch(node),
      addresses: [address],
      portSecurity: [address],
      options,
      externalIds: ownedIds(spec, 'port', {
        [NODE]: node,
        [NEIGHBOUR]: neighbourId(routerPort, spec.ipv4),
        ...extra,
      }),
    });
    // The VM's IP is outside the node subnet, so northd derives no neighbour for it on the router:
    // without this the router ARPs for the VM on the first packet after every flip.
    vm.neighbours.push({ logicalPort: routerPort, ip: spec.ipv4, mac: spec.mac });
  };
  // Traffic to the VM enters its port's switch through this node's router port.
  let southNode = routedTo;
  if (cfg.migration === 'multi-chassis') {
    // One port for the VM's life, on the switch it first landed on; OVN binds it to the chassis
    // listed (both during a migration; the target only after the VM's RARP, with activation-strategy).
    const known = topo.portAnchor?.(vm.machine);
    const anchor =
      known !== undefined && topo.hasNodeSwitch(known)
        ? known
        : spec.placement.kind === 'migrating'
          ? spec.placement.source
          : portNodes[0]!;
    const options: Record<string, string> = { 'requested-chassis': portNodes.map(cfg.chassisOf).join(',') };
    if (portNodes.length > 1 && cfg.multiChassisActivation === 'rarp')
      options['activation-strategy'] = 'rarp';
    port(anchor, options, { [CHASSIS_NODES]: portNodes.join(',') });
    vm.gatewayNodes = [anchor];
    southNode = anchor;
  } else {
    for (const node of portNodes) port(node, {}, {});
  }
  vm.dhcp = composeDhcpOptions(spec, cfg);

  if (routedTo !== undefined) {
    vm.routedTo = routedTo;
    vm.south = {
      ipPrefix: `${spec.ipv4}/32`,
      nexthop: spec.ipv4,
      outputPort: cfg.names.routerToSwitchPort(southNode ?? routedTo),
      externalIds: ownedIds(spec, 'route', { [NODE]: routedTo }),
    };
    if (cfg.north === 'policy') {
      const nexthop = topo.northNexthop(routedTo);
      if (nexthop === undefined) {
        return {
          ok: false,
          reason: 'NodeGatewayMissing',
          message: `no egress next hop for node ${routedTo} (router port ${cfg.names.gatewayRouterJoinPort(routedTo)})`,
          retryable: true,
        };
      }
      vm.north = {
        priority: cfg.northPolicyPriority,
        match: `ip4.src == ${spec.ipv4}`,
        action: 'reroute',
        nexthop,
        externalIds: ownedIds(spec, 'policy', { [NODE]: routedTo }),
      };
      const pool = networkOf(spec.ipv4, spec.prefixLength);
      vm.poolPolicy = {
        priority: cfg.northPolicyPriority + 1,
        match: poolPolicyMatch(pool, topo.nodeSubnets?.() ?? []),
        action: 'allow',
        externalIds: poolPolicyIds(spec.cluster, pool),
      };
      vm.egress = { ipPrefix: pool, nexthop, externalIds: egressIds(spec.cluster, pool) };
    }
  }
  return { ok: true, vm };
}

/**
 * The tenant pool's allow policy: from its VMs to pods (the node subnets) and to each other, routed
 * directly; above every VM's north reroute, so that only egress is rerouted. One per pool, not per
 * VM: northd turns each policy into flows, and the node subnets change for all VMs at once.
 */
export function poolPolicyMatch(pool: string, nodeSubnets: readonly string[]): string {
  const inside = [...new Set([pool, ...nodeSubnets])].sort();
  return `ip4.src == ${pool} && ip4.dst == {${inside.join(', ')}}`;
}

/** The arp_proxy value that makes a node switch answer for the gateway, merged into what is there. */
export function composeArpProxy(
  current: string | undefined,
  gw: { ipv4: string; mac: string },
  form: 'mac-and-ip' | 'shared-router-mac',
): { value: string; added: string[] } {
  const tokens = (current ?? '').split(/\s+/).filter(Boolean);
  const want = form === 'mac-and-ip' ? [gw.mac, gw.ipv4] : [gw.ipv4];
  const added = want.filter((t) => !tokens.includes(t));
  if (form === 'mac-and-ip' && added.includes(gw.mac)) {
    // The MAC form starts with the MAC: "<MAC> <IP> [IP…]".
    return {
      value: [gw.mac, ...tokens.filter((t) => t !== gw.mac), ...added.filter((t) => t !== gw.mac)].join(' '),
      added,
    };
  }
  return { value: [...tokens, ...added].join(' '), added };
}
