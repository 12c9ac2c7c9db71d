// Desired rows (compose.ts) against the monitored NB cache → the operations of one transaction.
// Lookups go by the ownership external_ids (an index in the cache); a row is updated in place when it
// differs, created when missing and deleted when no longer desired. Every write carries a `wait`
// guard on what it was based on (the row's cached columns, a name not yet taken, a parent that
// exists), so that a racing writer makes the whole transaction fail instead of being overwritten.
import {
  byUuid,
  type CacheIndexes,
  type DatabaseCache,
  type OpBuilder,
  type Operation,
  type RowIndex,
  type nb,
} from '../../ovsdb/index.js';
import type { OvnTopologyNames } from './config.js';
import {
  composeArpProxy,
  networkOf,
  poolPolicyMatch,
  type DesiredDhcp,
  type DesiredNeighbour,
  type DesiredPolicy,
  type DesiredPort,
  type DesiredRoute,
  type DesiredVm,
  type TopologyView,
} from './compose.js';
import {
  CHASSIS_NODES,
  EGRESS_KIND,
  KIND,
  POOL,
  POOL_POLICY_KIND,
  GATEWAY_ARP_PROXY,
  GATEWAY_ORIGINAL_MAC,
  MACHINE,
  NEIGHBOUR,
  NODE,
  OWNER,
  isOwned,
  isOwnedKind,
  neighbourId,
  parseNeighbourId,
  type RowKind,
} from './ids.js';

type Nb = nb.Tables;

export interface NbState {
  cache: DatabaseCache<Nb>;
  ops: OpBuilder<Nb>;
  names: OvnTopologyNames;
}

export interface Diff {
  ops: Operation[];
  /** Rows in the way that the driver does not own; nothing is written for them. */
  conflicts: string[];
}

export interface Gateway {
  ipv4: string;
  mac: string;
  form: 'mac-and-ip' | 'shared-router-mac';
}

const OWNED_TABLES = [
  'Logical_Switch_Port',
  'DHCP_Options',
  'Logical_Router_Static_Route',
  'Logical_Router_Policy',
] as const;
export type OwnedTable = (typeof OWNED_TABLES)[number];
export const OWNED_TABLE_KINDS: Record<OwnedTable, RowKind> = {
  Logical_Switch_Port: 'port',
  DHCP_Options: 'dhcp',
  Logical_Router_Static_Route: 'route',
  Logical_Router_Policy: 'policy',
};

// Lookups by column value that every sync makes: each would otherwise scan a table that holds a
// row per VM (a thousand VMs: a thousand rows per lookup, several lookups per sync).
const SWITCH_BY_PORT: RowIndex<nb.LogicalSwitch> = { name: 'port', keys: (s) => s.ports };
const PORT_BY_NAME: RowIndex<nb.LogicalSwitchPort> = { name: 'name', keys: (p) => [p.name] };
const ROUTER_PORT_BY_NAME: RowIndex<nb.LogicalRouterPort> = { name: 'name', keys: (p) => [p.name] };
/** A tenant cluster's shared rows of one kind (they have an owner and no machine), by owner. */
function clusterRowsByOwner<R extends { external_ids: Readonly<Record<string, string>> }>(
  kind: string,
): RowIndex<R> {
  return {
    name: `${kind}-owner`,
    keys: (r) => {
      const owner = r.external_ids[OWNER];
      return r.external_ids[KIND] === kind && r.external_ids[MACHINE] === undefined && owner ? [owner] : [];
    },
  };
}
const EGRESS_BY_OWNER = clusterRowsByOwner<nb.LogicalRouterStaticRoute>(EGRESS_KIND);
const POOL_POLICY_BY_OWNER = clusterRowsByOwner<nb.LogicalRouterPolicy>(POOL_POLICY_KIND);
const NEIGHBOUR_BY_PORT_AND_IP: RowIndex<nb.StaticMACBinding> = {
  name: 'port-ip',
  keys: (b) => [`${b.logical_port} ${b.ip}`],
};
const NEIGHBOUR_BY_IP: RowIndex<nb.StaticMACBinding> = { name: 'ip', keys: (b) => [b.ip] };

/** The cache indexes the driver's lookups need. */
export const CACHE_INDEXES: CacheIndexes<Nb> = {
  ...Object.fromEntries(OWNED_TABLES.map((t) => [t, [MACHINE, OWNER]])),
  Logical_Switch_Port: [MACHINE, OWNER, PORT_BY_NAME],
  Logical_Switch: [SWITCH_BY_PORT],
  Logical_Router_Port: [ROUTER_PORT_BY_NAME],
  Static_MAC_Binding: [NEIGHBOUR_BY_PORT_AND_IP, NEIGHBOUR_BY_IP],
  Logical_Router_Static_Route: [MACHINE, OWNER, EGRESS_BY_OWNER],
  Logical_Router_Policy: [MACHINE, OWNER, POOL_POLICY_BY_OWNER],
};

const portNamed = (cache: DatabaseCache<Nb>, name: string) =>
  cache.byIndex('Logical_Switch_Port', PORT_BY_NAME, name)[0];
const routerPortNamed = (cache: DatabaseCache<Nb>, name: string) =>
  cache.byIndex('Logical_Router_Port', ROUTER_PORT_BY_NAME, name)[0];

function sameSet(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function sameMap(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Rows of a table owned for one machine. */
export function ownedRows<T extends OwnedTable>(
  cache: DatabaseCache<Nb>,
  table: T,
  machine: string,
  kind: RowKind = OWNED_TABLE_KINDS[table],
): Readonly<Nb[T]>[] {
  return cache.byExternalId(table, MACHINE, machine).filter((r) => isOwnedKind(r, kind));
}

/** A node switch's port by name, through the switch's own port list (no scan of every port). */
function switchPort(
  cache: DatabaseCache<Nb>,
  switchName: string,
  portName: string,
): Readonly<nb.LogicalSwitchPort> | undefined {
  const port = portNamed(cache, portName);
  return port && holdingSwitch(cache, port._uuid)?.name === switchName ? port : undefined;
}

/** Node subnets by cache, recomputed only when the router ports change (every sync asks). */
const nodeSubnetsMemo = new WeakMap<
  DatabaseCache<Nb>,
  { generation: number; names: OvnTopologyNames; subnets: string[] }
>();

/** The topology facts compose needs, read from the cache. */
export function topologyView(
  cache: DatabaseCache<Nb>,
  names: OvnTopologyNames,
): TopologyView & { nodes(): string[]; nodeSubnets(): string[] } {
  // The cluster router's ports toward node switches, with their node.
  const nodeRouterPorts = () =>
    cache
      .find('Logical_Router_Port', (p) => names.nodeOfRouterToSwitchPort(p.name) !== undefined)
      .map((p) => ({ node: names.nodeOfRouterToSwitchPort(p.name)!, port: p }));
  return {
    hasNodeSwitch(node) {
      const sw = names.nodeSwitch(node);
      const stor = names.switchToRouterPort(node);
      const rtos = names.routerToSwitchPort(node);
      return switchPort(cache, sw, stor) !== undefined && routerPortNamed(cache, rtos) !== undefined;
    },
    portAnchor(machine) {
      return ownedRows(cache, 'Logical_Switch_Port', machine)[0]?.external_ids[NODE];
    },
    /** The nodes whose switch hangs off the cluster router, sorted. */
    nodes() {
      return nodeRouterPorts()
        .map((r) => r.node)
        .filter((n) => this.hasNodeSwitch(n))
        .sort();
    },
    nodeSubnets() {
      const generation = cache.generation('Logical_Router_Port');
      const memo = nodeSubnetsMemo.get(cache);
      if (memo?.generation === generation && memo.names === names) return memo.subnets;
      const out = new Set<string>();
      for (const { port: p } of nodeRouterPorts()) {
        for (const n of p.networks) {
          const [ip, len] = n.split('/');
          if (ip && len && !ip.includes(':')) out.add(networkOf(ip, Number(len)));
        }
      }
      const subnets = [...out].sort();
      nodeSubnetsMemo.set(cache, { generation, names, subnets });
      return subnets;
    },
    northNexthop(node) {
      const port = names.gatewayRouterJoinPort(node);
      const net = routerPortNamed(cache, port)?.networks.find((n) => !n.includes(':'));
      return net?.split('/')[0];
    },
  };
}

/**
 * Insert names unique in this process, not only in one diff: the driver may send several machines'
 * operations in one transaction, where a uuid-name must not be declared twice.
 */
let uuidNames = 0;

class TxnBuilder {
  readonly ops: Operation[] = [];
  readonly conflicts: string[] = [];
  constructor(readonly s: NbState) {}

  uuidName(prefix: string): string {
    uuidNames = (uuidNames + 1) % Number.MAX_SAFE_INTEGER;
    return `${prefix}${uuidNames}`;
  }

  /** Fails the transaction unless the row still holds the cached values of these columns. */
  guardRow<T extends keyof Nb & string>(
    table: T,
    row: Readonly<Nb[T]>,
    columns: (keyof Nb[T] & string)[],
  ): void {
    const expect: Partial<Nb[T]> = {};
    for (const c of columns) expect[c] = row[c];
    this.ops.push(
      this.s.ops.wait(table, [byUuid((row as { _uuid: string })._uuid)] as never, {
        columns,
        until: '==',
        rows: [expect],
        timeoutMs: 0,
      }),
    );
  }

  /** Fails the transaction if a row with this name exists (someone else took it meanwhile). */
  guardNameFree(table: 'Logical_Switch_Port', name: string): void {
    this.ops.push(
      this.s.ops.wait(table, [['name', '==', name]], {
        columns: ['name'],
        until: '==',
        rows: [],
        timeoutMs: 0,
      }),
    );
  }

  /** Fails the transaction unless the named parent exists. */
  guardExists(table: 'Logical_Switch' | 'Logical_Router', name: string): void {
    this.ops.push(
      this.s.ops.wait(table, [['name', '==', name]], {
        columns: ['name'],
        until: '!=',
        rows: [],
        timeoutMs: 0,
      }),
    );
  }

  /** Updates the columns that differ, guarded by their cached values. */
  update<T extends OwnedTable | 'Static_MAC_Binding' | 'Logical_Router_Port' | 'Logical_Switch_Port'>(
    table: T,
    row: Readonly<Nb[T]>,
    changes: Partial<Nb[T]>,
  ): void {
    const cols = Object.keys(changes) as (keyof Nb[T] & string)[];
    if (cols.length === 0) return;
    this.guardRow(table, row, cols);
    this.ops.push(
      this.s.ops.update(table, [byUuid((row as { _uuid: string })._uuid)] as never, changes as never),
    );
  }
}

function changed<R>(
  row: Readonly<R>,
  want: Partial<R>,
  sets: (keyof R)[] = [],
  maps: (keyof R)[] = [],
): Partial<R> {
  const out: Partial<R> = {};
  for (const k of Object.keys(want) as (keyof R)[]) {
    const a = row[k] as unknown;
    const b = want[k] as unknown;
    const same = sets.includes(k)
      ? sameSet(a as unknown[], b as unknown[])
      : maps.includes(k)
        ? sameMap(a as Record<string, unknown>, b as Record<string, unknown>)
        : a === b;
    if (!same) out[k] = want[k];
  }
  return out;
}

function diffDhcp(t: TxnBuilder, machine: string, want: DesiredDhcp | undefined): string | undefined {
  const existing = ownedRows(t.s.cache, 'DHCP_Options', machine);
  const [keep, ...extra] = existing;
  for (const r of want ? extra : existing) {
    t.guardRow('DHCP_Options', r, ['external_ids']);
    t.ops.push(t.s.ops.delete('DHCP_Options', [byUuid(r._uuid)]));
  }
  if (!want) return undefined;
  if (keep) {
    t.update(
      'DHCP_Options',
      keep,
      changed(
        keep,
        { cidr: want.cidr, options: want.options, external_ids: want.externalIds },
        [],
        ['options', 'external_ids'],
      ),
    );
    return keep._uuid;
  }
  const name = t.uuidName('dhcp');
  // No other writer may have created this machine's DHCP_Options meanwhile.
  t.ops.push(
    t.s.ops.wait(
      'DHCP_Options',
      [['external_ids', 'includes', { [MACHINE]: machine, [OWNER]: want.externalIds[OWNER]! }]],
      {
        columns: ['external_ids'],
        until: '==',
        rows: [],
        timeoutMs: 0,
      },
    ),
  );
  t.ops.push(
    t.s.ops.insert(
      'DHCP_Options',
      { cidr: want.cidr, options: want.options, external_ids: want.externalIds },
      name,
    ),
  );
  return name;
}

function holdingSwitch(cache: DatabaseCache<Nb>, portUuid: string): Readonly<nb.LogicalSwitch> | undefined {
  return cache.byIndex('Logical_Switch', SWITCH_BY_PORT, portUuid)[0];
}

function diffPorts(t: TxnBuilder, machine: string, want: DesiredPort[], dhcp: string | undefined): void {
  const existing = ownedRows(t.s.cache, 'Logical_Switch_Port', machine);
  const byNode = new Map(existing.map((p) => [p.external_ids[NODE] ?? '', p]));
  const wanted = new Set(want.map((p) => p.node));
  for (const p of existing) {
    if (wanted.has(p.external_ids[NODE] ?? '') && byNode.get(p.external_ids[NODE] ?? '') === p) continue;
    const sw = holdingSwitch(t.s.cache, p._uuid);
    if (!sw) continue; // a port without a switch is already gone from OVSDB's point of view
    t.guardRow('Logical_Switch_Port', p, ['external_ids']);
    t.ops.push(t.s.ops.mutate('Logical_Switch', [byUuid(sw._uuid)], [['ports', 'delete', [p._uuid]]]));
  }
  for (const w of want) {
    const row = {
      name: w.name,
      addresses: w.addresses,
      port_security: w.portSecurity,
      dhcpv4_options: dhcp ? [dhcp] : [],
      type: '',
      options: w.options,
      external_ids: w.externalIds,
    };
    const have = byNode.get(w.node);
    if (have && holdingSwitch(t.s.cache, have._uuid)?.name === w.switchName) {
      t.update(
        'Logical_Switch_Port',
        have,
        changed(have, row, ['addresses', 'port_security', 'dhcpv4_options'], ['options', 'external_ids']),
      );
      continue;
    }
    if (have) {
      // On the wrong switch (renamed topology): drop it and create it where it belongs.
      const sw = holdingSwitch(t.s.cache, have._uuid);
      if (sw)
        t.ops.push(t.s.ops.mutate('Logical_Switch', [byUuid(sw._uuid)], [['ports', 'delete', [have._uuid]]]));
    } else {
      const foreign = portNamed(t.s.cache, w.name);
      if (foreign && !isOwned(foreign)) {
        t.conflicts.push(`Logical_Switch_Port ${w.name} exists and is not owned by capk-podnet`);
        continue;
      }
      t.guardNameFree('Logical_Switch_Port', w.name);
    }
    const name = t.uuidName('port');
    t.guardExists('Logical_Switch', w.switchName);
    t.ops.push(t.s.ops.insert('Logical_Switch_Port', row, name));
    t.ops.push(
      t.s.ops.mutate('Logical_Switch', [['name', '==', w.switchName]], [['ports', 'insert', [name]]]),
    );
  }
}

type RouterChildTable = 'Logical_Router_Static_Route' | 'Logical_Router_Policy';
const ROUTER_COLUMN = {
  Logical_Router_Static_Route: 'static_routes',
  Logical_Router_Policy: 'policies',
} as const;

/** Takes a route or policy off the cluster router (which deletes it), guarded on its ids. */
function detachFromRouter(t: TxnBuilder, table: RouterChildTable, row: Readonly<{ _uuid: string }>): void {
  t.guardRow(table, row as never, ['external_ids']);
  t.ops.push(
    t.s.ops.mutate(
      'Logical_Router',
      [['name', '==', t.s.names.clusterRouter]],
      [[ROUTER_COLUMN[table], 'delete', [row._uuid]]],
    ),
  );
}

function diffRouterChild(
  t: TxnBuilder,
  machine: string,
  table: RouterChildTable,
  want: Partial<nb.LogicalRouterStaticRoute> | Partial<nb.LogicalRouterPolicy> | undefined,
  sets: string[],
  kind: RowKind = OWNED_TABLE_KINDS[table],
): void {
  const router = t.s.names.clusterRouter;
  const column = ROUTER_COLUMN[table];
  const existing = ownedRows(t.s.cache, table, machine, kind) as Readonly<
    nb.LogicalRouterStaticRoute & nb.LogicalRouterPolicy
  >[];
  const [keep, ...extra] = existing;
  for (const r of want ? extra : existing) detachFromRouter(t, table, r);
  if (!want) return;
  if (keep) {
    // In place: one row per VM, its node flips. Adding before deleting would leave an ECMP pair.
    t.update(
      table,
      keep as never,
      changed(keep as Record<string, unknown>, want as Record<string, unknown>, sets, [
        'external_ids',
        'options',
      ]) as never,
    );
    return;
  }
  const name = t.uuidName(column === 'policies' ? 'policy' : 'route');
  t.guardExists('Logical_Router', router);
  t.ops.push(t.s.ops.insert(table, want as never, name));
  t.ops.push(t.s.ops.mutate('Logical_Router', [['name', '==', router]], [[column, 'insert', [name]]]));
}

function routeRow(w: DesiredRoute): Partial<nb.LogicalRouterStaticRoute> {
  return {
    ip_prefix: w.ipPrefix,
    nexthop: w.nexthop,
    output_port: [w.outputPort],
    policy: ['dst-ip'],
    route_table: '',
    external_ids: w.externalIds,
  };
}

function policyRow(w: DesiredPolicy): Partial<nb.LogicalRouterPolicy> {
  return {
    priority: w.priority,
    match: w.match,
    action: w.action,
    nexthops: w.nexthop === undefined ? [] : [w.nexthop],
    nexthop: [],
    external_ids: w.externalIds,
  };
}

/** A cluster's pool egress routes. */
export function egressRoutes(
  cache: DatabaseCache<Nb>,
  owner: string,
): Readonly<nb.LogicalRouterStaticRoute>[] {
  return cache.byIndex('Logical_Router_Static_Route', EGRESS_BY_OWNER, owner);
}

/**
 * Adds a row a tenant cluster's VMs share (a pool's egress route or allow policy) to the cluster
 * router, unless the cache shows it. Never updates one: the rows are the same for every VM of the
 * pool, and the allow policy's node subnets are kept by poolPolicyOps in one place instead of each
 * VM's sync racing. VMs sync in parallel: the guard (no row with these ids yet) lets only the first
 * create it; the others re-diff and find it.
 */
function ensureClusterRow<T extends RouterChildTable>(
  t: TxnBuilder,
  table: T,
  byOwner: RowIndex<Nb[T]>,
  row: Partial<Nb[T]> & { external_ids: Record<string, string> },
): void {
  const { [OWNER]: owner, [KIND]: kind, [POOL]: pool } = row.external_ids;
  const existing = t.s.cache.byIndex(table, byOwner, owner!) as Readonly<{
    external_ids: Record<string, string>;
  }>[];
  if (existing.some((r) => r.external_ids[POOL] === pool)) return;
  const router = t.s.names.clusterRouter;
  const name = t.uuidName('shared');
  t.guardExists('Logical_Router', router);
  t.ops.push(
    t.s.ops.wait(
      table,
      [['external_ids', 'includes', { [OWNER]: owner, [KIND]: kind, [POOL]: pool }]] as never,
      {
        columns: ['external_ids'] as never,
        until: '==',
        rows: [],
        timeoutMs: 0,
      },
    ),
  );
  t.ops.push(t.s.ops.insert(table, row as never, name));
  t.ops.push(
    t.s.ops.mutate('Logical_Router', [['name', '==', router]], [[ROUTER_COLUMN[table], 'insert', [name]]]),
  );
}

/** A cluster's pool allow policies. */
function poolPolicies(cache: DatabaseCache<Nb>, owner: string): Readonly<nb.LogicalRouterPolicy>[] {
  return cache.byIndex('Logical_Router_Policy', POOL_POLICY_BY_OWNER, owner);
}

/** The pools' allow policies brought up to date with the node subnets there are now. */
export function poolPolicyOps(s: NbState, nodeSubnets: readonly string[]): Diff {
  const t = new TxnBuilder(s);
  for (const r of s.cache.find('Logical_Router_Policy', (p) => POOL_POLICY_BY_OWNER.keys(p).length > 0)) {
    const pool = r.external_ids[POOL];
    if (pool === undefined) continue;
    const match = poolPolicyMatch(pool, nodeSubnets);
    if (r.match !== match) t.update('Logical_Router_Policy', r, { match });
  }
  return { ops: t.ops, conflicts: t.conflicts };
}

/** Rows a tenant cluster owns as a whole (its pools' egress routes and allow policies). */
function removeClusterRows(t: TxnBuilder, owner: string): void {
  for (const r of egressRoutes(t.s.cache, owner)) detachFromRouter(t, 'Logical_Router_Static_Route', r);
  for (const r of poolPolicies(t.s.cache, owner)) detachFromRouter(t, 'Logical_Router_Policy', r);
}

/** The owner (cluster) of a machine's rows, read from any of them. */
function ownerOf(cache: DatabaseCache<Nb>, machine: string): string | undefined {
  for (const table of OWNED_TABLES) {
    const r = ownedRows(cache, table, machine)[0];
    if (r) return r.external_ids[OWNER];
  }
  return undefined;
}

/** Pool egress routes and allow policies of clusters that have no machine rows left. */
export function orphanEgressOps(s: NbState): Diff {
  const t = new TxnBuilder(s);
  const owners = new Set([
    ...s.cache.list('Logical_Router_Static_Route').flatMap((r) => EGRESS_BY_OWNER.keys(r)),
    ...s.cache.list('Logical_Router_Policy').flatMap((r) => POOL_POLICY_BY_OWNER.keys(r)),
  ]);
  for (const o of owners) if (ownedMachines(s.cache, o).size === 0) removeClusterRows(t, o);
  return { ops: t.ops, conflicts: t.conflicts };
}

/** The Static_MAC_Binding of a router port for an IP. */
export function findNeighbour(
  cache: DatabaseCache<Nb>,
  logicalPort: string,
  ip: string,
): Readonly<nb.StaticMACBinding> | undefined {
  return cache.byIndex('Static_MAC_Binding', NEIGHBOUR_BY_PORT_AND_IP, `${logicalPort} ${ip}`)[0];
}

function diffNeighbours(t: TxnBuilder, machine: string, want: DesiredNeighbour[]): void {
  const recorded = new Set(
    ownedRows(t.s.cache, 'Logical_Switch_Port', machine)
      .map((p) => p.external_ids[NEIGHBOUR])
      .filter((v): v is string => v !== undefined),
  );
  const wanted = new Set(want.map((w) => neighbourId(w.logicalPort, w.ip)));
  for (const id of recorded) {
    if (wanted.has(id)) continue;
    const n = parseNeighbourId(id);
    const row = n && findNeighbour(t.s.cache, n.logicalPort, n.ip);
    if (!row) continue;
    t.guardRow('Static_MAC_Binding', row, ['mac']);
    t.ops.push(t.s.ops.delete('Static_MAC_Binding', [byUuid(row._uuid)]));
  }
  // A node that left took our port there, and with it the record of the neighbour we set on its
  // router port: a binding for the VM's IP on a router port that no longer exists is that one.
  for (const ip of new Set(want.map((w) => w.ip))) {
    for (const row of t.s.cache.byIndex('Static_MAC_Binding', NEIGHBOUR_BY_IP, ip)) {
      if (wanted.has(neighbourId(row.logical_port, ip)) || routerPortNamed(t.s.cache, row.logical_port))
        continue;
      if (recorded.has(neighbourId(row.logical_port, ip))) continue; // deleted above
      t.guardRow('Static_MAC_Binding', row, ['mac']);
      t.ops.push(t.s.ops.delete('Static_MAC_Binding', [byUuid(row._uuid)]));
    }
  }
  for (const w of want) {
    const row = findNeighbour(t.s.cache, w.logicalPort, w.ip);
    if (!row) {
      t.ops.push(
        t.s.ops.wait(
          'Static_MAC_Binding',
          [
            ['logical_port', '==', w.logicalPort],
            ['ip', '==', w.ip],
          ],
          { columns: ['mac'], until: '==', rows: [], timeoutMs: 0 },
        ),
      );
      t.ops.push(
        t.s.ops.insert(
          'Static_MAC_Binding',
          {
            logical_port: w.logicalPort,
            ip: w.ip,
            mac: w.mac,
            override_dynamic_mac: true,
          },
          t.uuidName('neighbour'),
        ),
      );
    } else if (row.mac !== w.mac || !row.override_dynamic_mac) {
      if (recorded.has(neighbourId(w.logicalPort, w.ip))) {
        t.update('Static_MAC_Binding', row, changed(row, { mac: w.mac, override_dynamic_mac: true }));
      } else {
        t.conflicts.push(
          `Static_MAC_Binding ${w.logicalPort} ${w.ip} → ${row.mac} exists and is not owned by capk-podnet`,
        );
      }
    }
  }
}

function diffGateways(t: TxnBuilder, nodes: readonly string[], gw: Gateway): void {
  for (const node of nodes) {
    const storName = t.s.names.switchToRouterPort(node);
    const stor = switchPort(t.s.cache, t.s.names.nodeSwitch(node), storName);
    if (stor) {
      const { value, added } = composeArpProxy(stor.options.arp_proxy, gw, gw.form);
      if (added.length) {
        const recorded = (stor.external_ids[GATEWAY_ARP_PROXY] ?? '').split(' ').filter(Boolean);
        t.guardRow('Logical_Switch_Port', stor, ['options']);
        t.ops.push(
          t.s.ops.setMapKeys('Logical_Switch_Port', [byUuid(stor._uuid)], 'options', { arp_proxy: value }),
        );
        t.ops.push(
          t.s.ops.setMapKeys('Logical_Switch_Port', [byUuid(stor._uuid)], 'external_ids', {
            [GATEWAY_ARP_PROXY]: [...new Set([...recorded, ...added])].join(' '),
          }),
        );
      }
    }
    if (gw.form !== 'shared-router-mac') continue;
    const rtosName = t.s.names.routerToSwitchPort(node);
    const rtos = routerPortNamed(t.s.cache, rtosName);
    if (rtos && rtos.mac !== gw.mac) {
      // OVN 23.03 answers arp_proxy with the router port's MAC: it must be the shared one everywhere.
      t.update('Logical_Router_Port', rtos, { mac: gw.mac });
      if (rtos.external_ids[GATEWAY_ORIGINAL_MAC] === undefined) {
        t.ops.push(
          t.s.ops.setMapKeys('Logical_Router_Port', [byUuid(rtos._uuid)], 'external_ids', {
            [GATEWAY_ORIGINAL_MAC]: rtos.mac,
          }),
        );
      }
    }
  }
}

/**
 * The operations that turn the NB rows of one machine into `want` (undefined: remove them all),
 * plus the shared gateway on the nodes the VM uses.
 */
export function vmOps(s: NbState, machine: string, want: DesiredVm | undefined, gw?: Gateway): Diff {
  const t = new TxnBuilder(s);
  if (gw && want) diffGateways(t, want.gatewayNodes, gw);
  const dhcp = diffDhcp(t, machine, want?.dhcp);
  diffPorts(t, machine, want?.ports ?? [], dhcp);
  diffRouterChild(t, machine, 'Logical_Router_Static_Route', want?.south && routeRow(want.south), [
    'output_port',
    'policy',
  ]);
  diffRouterChild(t, machine, 'Logical_Router_Policy', want?.north && policyRow(want.north), [
    'nexthops',
    'nexthop',
  ]);
  // A per-VM allow policy left by an earlier version: the pool's replaces it.
  diffRouterChild(t, machine, 'Logical_Router_Policy', undefined, ['nexthops', 'nexthop'], 'direct');
  diffNeighbours(t, machine, want?.neighbours ?? []);
  if (want?.egress)
    // Any node's gateway will do as next hop: each VM's north policy reroutes to its own node anyway.
    ensureClusterRow(t, 'Logical_Router_Static_Route', EGRESS_BY_OWNER, {
      ip_prefix: want.egress.ipPrefix,
      nexthop: want.egress.nexthop,
      policy: ['src-ip'],
      external_ids: want.egress.externalIds,
    });
  if (want?.poolPolicy)
    ensureClusterRow(t, 'Logical_Router_Policy', POOL_POLICY_BY_OWNER, {
      ...policyRow(want.poolPolicy),
      external_ids: want.poolPolicy.externalIds,
    });
  if (!want) {
    // The cluster's last machine takes the cluster's pool egress route and allow policy with it.
    const owner = ownerOf(s.cache, machine);
    if (owner !== undefined && [...ownedMachines(s.cache, owner)].every((m) => m === machine))
      removeClusterRows(t, owner);
  }
  return { ops: t.ops, conflicts: t.conflicts };
}

/** The shared gateway on these nodes' switches (and, on OVN 23.03, router ports). */
export function gatewayOps(s: NbState, nodes: readonly string[], gw: Gateway): Diff {
  const t = new TxnBuilder(s);
  diffGateways(t, nodes, gw);
  return { ops: t.ops, conflicts: t.conflicts };
}

/** Machines that own at least one row, optionally only those of one cluster (owner). */
export function ownedMachines(cache: DatabaseCache<Nb>, owner?: string): Set<string> {
  const out = new Set<string>();
  for (const table of OWNED_TABLES) {
    const rows =
      owner === undefined ? cache.find(table, (r) => isOwned(r)) : cache.byExternalId(table, OWNER, owner);
    for (const r of rows) if (isOwned(r)) out.add(r.external_ids[MACHINE]!);
  }
  return out;
}

/** Where the machine's rows stand now: the nodes with a port and the node its south route uses. */
export function observedPlacement(
  cache: DatabaseCache<Nb>,
  machine: string,
): { portNodes: string[]; routedTo?: string } {
  const portNodes = ownedRows(cache, 'Logical_Switch_Port', machine)
    .flatMap((p) => p.external_ids[CHASSIS_NODES]?.split(',') ?? [p.external_ids[NODE]])
    .filter((n): n is string => n !== undefined)
    .sort();
  const route = ownedRows(cache, 'Logical_Router_Static_Route', machine)[0];
  const routedTo = route?.external_ids[NODE];
  return routedTo === undefined ? { portNodes } : { portNodes, routedTo };
}
