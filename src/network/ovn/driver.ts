// The OVN network driver: keeps, for each tenant VM, its ports, DHCP_Options, south route, north
// policy and router-side neighbours in the OVN NB database, beside OVN-Kubernetes' own rows.
// Level-based: every call hands the whole desired state of one VM; compose (pure) → diff against
// the monitored cache → one guarded transaction. Calls for one machine run one at a time.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionLostError,
  NotConnectedError,
  OvsdbClient,
  OvsdbOperationError,
  insertedUuids,
  nb,
  type Operation,
  type OperationResult,
  type RowChange,
  type TableName,
} from '../../ovsdb/index.js';
import {
  machineKey,
  type NetworkDriver,
  type ObjectRef,
  type VmNetworkObservation,
  type VmNetworkSpec,
} from '../driver.js';
import { arpProxyFormFor, resolveConfig, type OvnDriverConfig, type OvnDriverOptions } from './config.js';
import { composeVm } from './compose.js';
import {
  CACHE_INDEXES,
  findNeighbour,
  gatewayOps,
  observedPlacement,
  orphanEgressOps,
  ownedMachines,
  poolPolicyOps,
  ownedRows,
  topologyView,
  vmOps,
  type Gateway,
  type NbState,
} from './diff.js';
import {
  GATEWAY_ARP_PROXY,
  GATEWAY_ORIGINAL_MAC,
  MACHINE,
  NEIGHBOUR,
  OWNER,
  parseNeighbourId,
} from './ids.js';

type Nb = nb.Tables;

interface QueuedWrite {
  ops: Operation[];
  key: string;
  resolve(results: OperationResult[]): void;
  reject(e: unknown): void;
  /** Sent in a transaction of its own (after a batch failed for a reason no single write owned). */
  alone?: boolean;
}

/**
 * Splits off the writes that would create a row another write of the batch creates first: two
 * machines of a new tenant cluster each adding its pool egress route, each guarded by "no such row
 * yet". In one transaction the second guard would fail and abort all; held back, such a write is
 * told of the conflict once the batch is in, and re-diffs from a cache that has the row.
 */
function withoutSharedCreates(all: QueuedWrite[]): {
  batch: QueuedWrite[];
  held: { write: QueuedWrite; conflict: OvsdbOperationError }[];
} {
  const claimed = new Set<string>();
  const batch: QueuedWrite[] = [];
  const held: { write: QueuedWrite; conflict: OvsdbOperationError }[] = [];
  for (const w of all) {
    const guards = w.ops.flatMap((op, i) =>
      op.op === 'wait' && op.until === '==' && op.rows.length === 0
        ? [{ i, op, key: JSON.stringify([op.table, op.where]) }]
        : [],
    );
    const dup = guards.find((g) => claimed.has(g.key));
    if (dup) {
      held.push({
        write: w,
        conflict: new OvsdbOperationError(dup.i, dup.op, {
          error: 'timed out',
          details: 'created by another write of the same transaction',
        }),
      });
      continue;
    }
    for (const g of guards) claimed.add(g.key);
    batch.push(w);
  }
  return { batch, held };
}

/** A bound on one transaction's size (writes of a few operations each). */
const MAX_WRITES_PER_TRANSACTION = 64;

const MONITORED: TableName<Nb>[] = [
  'Logical_Switch',
  'Logical_Switch_Port',
  'Logical_Router',
  'Logical_Router_Port',
  'Logical_Router_Static_Route',
  'Logical_Router_Policy',
  'DHCP_Options',
  'Static_MAC_Binding',
];

/** A sync that could not be committed; `reason` is a condition reason, the cause names the operation. */
export class OvnSyncError extends Error {
  override name = 'OvnSyncError';
  constructor(
    readonly reason: string,
    readonly machine: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${machine}: ${message}`, options);
  }
}

/** NotLockHolder when the writer lock's assert failed, else TransactionFailed; the cause names the op. */
function syncError(key: string, e: unknown): OvnSyncError {
  const reason =
    e instanceof OvsdbOperationError && e.op.op === 'assert' ? 'NotLockHolder' : 'TransactionFailed';
  return new OvnSyncError(reason, key, (e as Error).message, { cause: e });
}

/** A change to a stor/rtos row that touches what the gateway needs (arp_proxy, MAC, our record). */
function gatewayChanged(c: RowChange<Nb>): boolean {
  const o = c.old as {
    options?: Record<string, string>;
    mac?: string;
    external_ids?: Record<string, string>;
  };
  const n = c.new as typeof o | undefined;
  return (
    !n ||
    o.options?.arp_proxy !== n.options?.arp_proxy ||
    o.mac !== n.mac ||
    o.external_ids?.[GATEWAY_ARP_PROXY] !== n.external_ids?.[GATEWAY_ARP_PROXY] ||
    o.external_ids?.[GATEWAY_ORIGINAL_MAC] !== n.external_ids?.[GATEWAY_ORIGINAL_MAC]
  );
}

/** A sync that moves a migrating VM's routes: to the target when it is ready, back when it failed. */
function isCutover(spec: VmNetworkSpec | undefined): boolean {
  const p = spec?.placement;
  return p?.kind === 'migrating' && (p.phase === 'target-ready' || p.phase === 'failed');
}

function nodeSubnetChanged(c: { old?: unknown; new?: unknown }): boolean {
  const o = c.old as { networks?: string[] } | undefined;
  const n = c.new as { networks?: string[] } | undefined;
  return o?.networks !== undefined && n?.networks !== undefined && o.networks.join() !== n.networks.join();
}

export interface OvnDriverStats {
  /**
   * Writes committed: each is one machine's sync (or the gateway's, or the egress sweep's), all of
   * its operations in one NB transaction. Several writes may share a transaction (nbTransactions).
   */
  transactions: number;
  /** NB transactions sent and committed (a batch of writes that queued behind one in flight). */
  nbTransactions: number;
  /** Transactions that a guard aborted (a racing writer, or a cache behind the server) and were retried. */
  conflictRetries: number;
  /** Syncs retried after the NB connection was lost. */
  reconnectRetries: number;
  /** Syncs started because a row was changed or deleted behind the driver's back. */
  restores: number;
  /** Full resyncs after a reconnect. */
  resyncs: number;
}

/** Extra datapath facts for observations (SB Port_Binding up/chassis); none in NB-only setups. */
export interface DatapathObserver {
  portsUp(ports: { name: string; node: string }[]): Promise<boolean>;
}

export class OvnDriver implements NetworkDriver {
  readonly name = 'ovn';
  readonly config: OvnDriverConfig;
  readonly stats: OvnDriverStats = {
    transactions: 0,
    nbTransactions: 0,
    conflictRetries: 0,
    reconnectRetries: 0,
    restores: 0,
    resyncs: 0,
  };
  /** Optional hook: when set, `programmed` also requires the VM's ports to be up on their chassis. */
  datapath: DatapathObserver | undefined;
  private client: OvsdbClient<Nb> | undefined;
  private form: Gateway['form'] | undefined;
  /** The last desired state per machine, to restore rows changed behind our back and to resync. */
  private readonly desired = new Map<string, VmNetworkSpec>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly toRestore = new Set<string>();
  private restoreTimer: NodeJS.Timeout | undefined;
  /** Pending coalesced updates of shared rows (gateways, pool policies), by commitShared key. */
  private readonly sharedTimers = new Map<string, NodeJS.Timeout>();
  private stopping = false;
  private sessionWait: Promise<void> | undefined;
  /** Counts change notifications; a machine is clean when a diff that found nothing saw its last one. */
  private seq = 0;
  private readonly changeSeq = new Map<string, number>();
  private readonly cleanSeq = new Map<string, number>();
  /**
   * Writes waiting for the NB transaction in flight of their lane; sent together in the next one.
   * Route flips of a migration's cutover have a lane of their own: they never wait behind a batch
   * of other machines' writes (the server takes the lanes' transactions in the order they arrive).
   */
  private readonly lanes: Record<'normal' | 'cutover', { queued: QueuedWrite[]; sending: boolean }> = {
    normal: { queued: [], sending: false },
    cutover: { queued: [], sending: false },
  };

  constructor(opts: OvnDriverOptions) {
    this.config = resolveConfig(opts);
  }

  async start(): Promise<void> {
    const client = await OvsdbClient.connect<Nb>({
      model: nb.model,
      remotes: this.config.nbRemotes,
      ...(this.config.tls ? { tls: this.config.tls } : {}),
      tables: MONITORED,
      indexes: CACHE_INDEXES,
      backoff: this.config.backoff,
      waitForConnectionMs: this.config.waitForConnectionMs,
      ...(this.config.logger ? { logger: this.config.logger } : {}),
    });
    this.client = client;
    this.form =
      this.config.arpProxy === 'auto' ? arpProxyFormFor(client.schema?.version ?? '0') : this.config.arpProxy;
    client.on('change', (changes) => {
      for (const c of changes) {
        for (const row of [c.old, c.new] as ({ external_ids?: Record<string, string> } | undefined)[]) {
          const m = row?.external_ids?.[MACHINE];
          if (m !== undefined && row?.external_ids?.[OWNER] !== undefined && this.desired.has(m))
            this.markChanged(m);
        }
        if (c.table === 'Static_MAC_Binding' && c.old && !c.new)
          this.neighbourGone(c.old as nb.StaticMACBinding);
        // Gateway settings on OVN-K's rows reverted (by OVN-K or a person): every VM's sync checks
        // its nodes' gateway again. (Rare; and if OVN-K insists, the two will take turns.)
        const oldIds = (c.old as { external_ids?: Record<string, string> } | undefined)?.external_ids;
        if (oldIds && (GATEWAY_ARP_PROXY in oldIds || GATEWAY_ORIGINAL_MAC in oldIds) && gatewayChanged(c)) {
          for (const m of this.desired.keys()) this.markChanged(m);
          this.scheduleNodeGateways();
        }
        // A node joined (its switch and router ports appear), or ours were reverted.
        const routerSide =
          c.table === 'Logical_Router_Port' ||
          (c.table === 'Logical_Switch_Port' && (c.new as { type?: string } | undefined)?.type === 'router');
        if (routerSide && c.new && !c.old) this.scheduleNodeGateways();
        // A node joined or left: the pools' allow policies list the node subnets not to reroute.
        if (c.table === 'Logical_Router_Port' && (!c.old || !c.new || nodeSubnetChanged(c))) {
          this.schedulePoolPolicies();
        }
      }
      if (this.toRestore.size) this.scheduleRestore();
    });
    // Queued behind another holder is fine: transactions fail their assert until 'locked'.
    if (this.config.writerLock) await client.lock(this.config.writerLock);
    client.on('resynced', () => {
      // After a reconnect the cache is the server's again: re-diff everything we keep.
      this.stats.resyncs++;
      for (const m of this.desired.keys()) this.markChanged(m);
      this.scheduleRestore();
      this.scheduleNodeGateways();
      this.schedulePoolPolicies();
    });
    this.scheduleNodeGateways();
    this.schedulePoolPolicies();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restoreTimer);
    for (const timer of this.sharedTimers.values()) clearTimeout(timer);
    await Promise.allSettled([...this.chains.values()]);
    await this.client?.close();
    this.client = undefined;
  }

  /** The arp_proxy form in use (after start). */
  get gatewayForm(): Gateway['form'] | undefined {
    return this.form;
  }

  /** The NB client, for callers that read the same cache (tests, benchmarks). */
  get nb(): OvsdbClient<Nb> {
    if (!this.client) throw new Error('OvnDriver: not started');
    return this.client;
  }

  ensureVm(spec: VmNetworkSpec): Promise<VmNetworkObservation> {
    const key = machineKey(spec.machine);
    this.desired.set(key, spec);
    const called = performance.now();
    return this.serialise(key, () => this.sync(key, spec, called));
  }

  async removeVm(machine: ObjectRef): Promise<void> {
    const key = machineKey(machine);
    this.desired.delete(key);
    await this.serialise(key, () => this.sync(key, undefined));
  }

  /** Removes every row of every machine of a tenant cluster (a deleted Cluster). Returns rows removed. */
  async removeCluster(cluster: ObjectRef): Promise<number> {
    const machines = ownedMachines(this.nb.cache, machineKey(cluster));
    return this.removeMachines(machines);
  }

  async sweep(live: ReadonlySet<string>): Promise<number> {
    for (const m of [...this.desired.keys()]) if (!live.has(m)) this.desired.delete(m);
    const orphans = [...ownedMachines(this.nb.cache)].filter((m) => !live.has(m));
    const rows = await this.removeMachines(new Set(orphans));
    // Pool egress routes of clusters without machines (their last one went while we were away).
    const removed = await this.commitShared('egress', () => orphanEgressOps(this.state()));
    return rows + (removed?.filter((o) => o.op === 'mutate').length ?? 0);
  }

  /** Gives these nodes' switches the shared gateway now, rather than when a VM first lands there. */
  async ensureGateways(nodes: string[], gateway: { ipv4: string; mac: string }): Promise<void> {
    // A caller's call acts on the NB as it is at the call, not as the cache last heard: what others
    // committed before it reaches the cache ahead of this echo's reply (one session, in order). The
    // driver's own calls follow the cache's change events and need no such wait.
    await this.awaitSession();
    await this.nb.echo('capk-podnet: gateway barrier');
    await this.setGateways(nodes, gateway);
  }

  private setGateways(nodes: string[], gateway: { ipv4: string; mac: string }): Promise<unknown> {
    return this.commitShared('gateway', () =>
      gatewayOps(this.state(), nodes, { ...gateway, form: this.form! }),
    );
  }

  /**
   * Rows no one machine owns (gateways, the pools' shared rows): diffed and committed under their
   * own key until nothing differs. Returns the operations of the transaction that went in, if any.
   */
  private commitShared(key: string, diff: () => { ops: Operation[] }): Promise<Operation[] | undefined> {
    return this.serialise(key, async () => {
      for (let attempt = 1; ; attempt++) {
        await this.awaitSession();
        const d = diff();
        if (!d.ops.length) return undefined;
        try {
          await this.commit(d.ops, key);
          return d.ops;
        } catch (e) {
          if (!(await this.retryable(e, attempt))) throw syncError(key, e);
        }
      }
    });
  }

  /** What NB holds for the machine now, without writing. */
  async observe(machine: ObjectRef): Promise<VmNetworkObservation> {
    const key = machineKey(machine);
    const spec = this.desired.get(key);
    const placed = observedPlacement(this.nb.cache, key);
    if (!spec) return { programmed: false, ...placed, reason: 'Unknown', message: 'no desired state given' };
    const composed = composeVm(spec, this.config, topologyView(this.nb.cache, this.config.names));
    if (!composed.ok)
      return { programmed: false, ...placed, reason: composed.reason, message: composed.message };
    const d = vmOps(this.state(), key, composed.vm, this.gateway(spec));
    return this.observation(spec, d.ops.length === 0 && d.conflicts.length === 0, d.conflicts);
  }

  private async removeMachines(machines: Set<string>): Promise<number> {
    let rows = 0;
    for (const m of machines) {
      rows += this.countRows(m);
      this.desired.delete(m);
      await this.serialise(m, () => this.sync(m, undefined));
    }
    return rows;
  }

  private countRows(machine: string): number {
    const c = this.nb.cache;
    const ports = ownedRows(c, 'Logical_Switch_Port', machine);
    const neighbours = ports
      .map((p) => parseNeighbourId(p.external_ids[NEIGHBOUR]))
      .filter((n) => n && findNeighbour(c, n.logicalPort, n.ip));
    return (
      ports.length +
      neighbours.length +
      ownedRows(c, 'DHCP_Options', machine).length +
      ownedRows(c, 'Logical_Router_Static_Route', machine).length +
      ownedRows(c, 'Logical_Router_Policy', machine).length +
      ownedRows(c, 'Logical_Router_Policy', machine, 'direct').length
    );
  }

  private state(): NbState {
    return { cache: this.nb.cache, ops: this.nb.ops, names: this.config.names };
  }

  private gateway(spec: VmNetworkSpec): Gateway {
    return { ipv4: spec.gateway.ipv4, mac: spec.gateway.mac, form: this.form! };
  }

  private serialise<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  /**
   * One sync of one machine: compose, diff, and (only if something differs) one transaction; then
   * diff again, until nothing differs. The second diff is what proves convergence (a change by
   * someone else may have landed meanwhile) and what lets change notifications caused by our own
   * transaction be recognised as seen, instead of each starting a restore.
   */
  private async sync(
    key: string,
    spec: VmNetworkSpec | undefined,
    called?: number,
  ): Promise<VmNetworkObservation> {
    let attempt = 1;
    let commits = 0;
    let committedAtMs: number | undefined;
    const waitMs = called === undefined ? 0 : performance.now() - called;
    for (;;) {
      await this.awaitSession();
      const seenSeq = this.seq;
      const t0 = performance.now();
      let diff;
      if (spec) {
        const composed = composeVm(spec, this.config, topologyView(this.nb.cache, this.config.names));
        if (!composed.ok) {
          return {
            programmed: false,
            ...observedPlacement(this.nb.cache, key),
            reason: composed.reason,
            message: composed.message,
          };
        }
        const gw = this.gateway(spec);
        if (gatewayOps(this.state(), composed.vm.gatewayNodes, gw).ops.length) {
          // First VM on a node: set the node's gateway up once, serialised, rather than have
          // every VM landing there at the same time race for it.
          await this.setGateways(composed.vm.gatewayNodes, gw);
        }
        diff = vmOps(this.state(), key, composed.vm, gw);
      } else {
        diff = vmOps(this.state(), key, undefined);
      }
      if (diff.ops.length === 0) {
        this.cleanSeq.set(key, seenSeq);
        const observed = spec
          ? await this.observation(spec, diff.conflicts.length === 0, diff.conflicts)
          : { programmed: false, portNodes: [] };
        return committedAtMs === undefined ? observed : { ...observed, committedAtMs };
      }
      if (commits >= this.config.maxAttempts) {
        throw new OvnSyncError(
          'NotConverging',
          key,
          `${diff.ops.length} operations still differ after ${commits} transactions (another writer?)`,
        );
      }
      const t1 = performance.now();
      const lane = isCutover(spec) ? 'cutover' : 'normal';
      try {
        await this.commit(diff.ops, key, lane);
        committedAtMs = Date.now();
        commits++;
        this.config.onSync?.({
          machine: key,
          ops: diff.ops.length,
          lane,
          waitMs: commits === 1 ? waitMs : 0,
          diffMs: t1 - t0,
          commitMs: performance.now() - t1,
        });
      } catch (e) {
        if (await this.retryable(e, attempt++)) continue;
        throw syncError(key, e);
      }
    }
  }

  private async observation(
    spec: VmNetworkSpec,
    converged: boolean,
    conflicts: string[],
  ): Promise<VmNetworkObservation> {
    const key = machineKey(spec.machine);
    const placed = observedPlacement(this.nb.cache, key);
    if (spec.placement.kind === 'unscheduled') {
      return {
        programmed: false,
        ...placed,
        reason: 'Unscheduled',
        message: 'no virt-launcher pod is scheduled',
      };
    }
    if (!converged) {
      return { programmed: false, ...placed, reason: 'ForeignRowInTheWay', message: conflicts.join('; ') };
    }
    if (this.datapath) {
      const ports = placed.portNodes.map((node) => ({
        name: this.config.vmPortName(spec.machine, node),
        node,
      }));
      if (!(await this.datapath.portsUp(ports))) {
        return {
          programmed: false,
          ...placed,
          reason: 'PortNotUp',
          message: 'ports not yet bound on their chassis',
        };
      }
    }
    return { programmed: true, ...placed };
  }

  private async commit(ops: Operation[], key: string, lane: 'normal' | 'cutover' = 'normal'): Promise<void> {
    const client = this.nb;
    const results = await new Promise<OperationResult[]>((resolve, reject) => {
      this.lanes[lane].queued.push({ ops, key, resolve, reject });
      this.pump(lane);
    });
    this.stats.transactions++;
    // ovsdb-server sends the monitor update before the reply; make sure, so that the next diff
    // never sees a cache without our own inserts (which would insert them twice).
    const inserted = Object.values(insertedUuids(ops, results));
    const tables = new Map(
      ops.flatMap((op, i) => (op.op === 'insert' && results[i]?.uuid ? [[results[i].uuid, op.table]] : [])),
    );
    await this.awaitCache(() =>
      inserted.every((u) => client.cache.get(tables.get(u) as TableName<Nb>, u) !== undefined),
    );
  }

  /**
   * One NB transaction at a time; writes that arrive meanwhile go together in the next. Under a
   * burst (a hundred migrations flipping at once) that is a few transactions instead of a hundred:
   * fewer round trips to wait behind, and fewer changes for ovsdb-server to fan out and for
   * ovn-northd to recompute. Each machine's operations stay whole in one transaction. Guards are
   * per write: one that fires aborts the transaction, fails only the write that owns it (which
   * re-diffs and retries as before) and sends the others again at once.
   */
  private pump(name: 'normal' | 'cutover'): void {
    const lane = this.lanes[name];
    if (lane.sending || lane.queued.length === 0) return;
    const n = lane.queued[0]!.alone
      ? 1
      : Math.min(
          MAX_WRITES_PER_TRANSACTION,
          ...[lane.queued.findIndex((w) => w.alone)].filter((i) => i >= 0),
          lane.queued.length,
        );
    const batch = lane.queued.splice(0, n);
    lane.sending = true;
    void this.send(batch, lane.queued).finally(() => {
      lane.sending = false;
      this.pump(name);
    });
  }

  private async send(all: QueuedWrite[], queue: QueuedWrite[]): Promise<void> {
    const { batch, held } = withoutSharedCreates(all);
    try {
      await this.transactBatch(batch, queue);
    } finally {
      // Their guard now fails (or holds again): either way a re-diff from the cache decides.
      for (const h of held) h.write.reject(h.conflict);
    }
  }

  /** One transaction for a batch; writes to send again go back to the front of `queue`. */
  private async transactBatch(batch: QueuedWrite[], queue: QueuedWrite[]): Promise<void> {
    const client = this.nb;
    const lock = this.config.writerLock;
    const head = lock ? [client.ops.assert(lock)] : [];
    const starts: number[] = [];
    const all: Operation[] = [...head];
    for (const w of batch) {
      starts.push(all.length);
      all.push(...w.ops);
    }
    const keys = batch.map((w) => w.key);
    all.push(
      client.ops.comment(
        `capk-podnet: ${keys.length > 3 ? `${keys.slice(0, 3).join(', ')} and ${keys.length - 3} more` : keys.join(', ')}`,
      ),
    );
    let results: OperationResult[];
    try {
      results = await client.transact(all);
    } catch (e) {
      const at = e instanceof OvsdbOperationError ? e.index : -1;
      const culprit = batch.findIndex((w, i) => at >= starts[i]! && at < starts[i]! + w.ops.length);
      if (batch.length === 1 || e instanceof ConnectionLostError || e instanceof NotConnectedError) {
        for (const w of batch) w.reject(e);
        return;
      }
      if (culprit < 0) {
        // Not one write's guard (a lost lock, a commit-time constraint): each goes again alone, so
        // that the error reaches only the writes it concerns.
        queue.unshift(...batch.map((w) => ({ ...w, alone: true })));
        return;
      }
      const failed = batch[culprit]!;
      const err = e as OvsdbOperationError;
      failed.reject(
        new OvsdbOperationError(at - starts[culprit]! + head.length, err.op, {
          error: err.error,
          ...(err.details !== undefined ? { details: err.details } : {}),
        }),
      );
      // The others were not at fault: first in line for the next transaction.
      queue.unshift(...batch.filter((_, i) => i !== culprit));
      return;
    }
    this.stats.nbTransactions++;
    for (const [i, w] of batch.entries()) w.resolve(results.slice(starts[i]!, starts[i]! + w.ops.length));
  }

  private async awaitCache(done: () => boolean, timeoutMs = 2_000): Promise<void> {
    if (done()) return;
    const client = this.nb;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      function check() {
        if (done()) finish();
      }
      function finish() {
        clearTimeout(timer);
        client.off('change', check);
        client.off('resynced', check);
        resolve();
      }
      client.on('change', check);
      client.on('resynced', check);
    });
  }

  /** Waits for a live session, so that a diff is never computed from a cache of a lost session. */
  private awaitSession(): Promise<void> {
    const client = this.nb;
    if (client.connected) return Promise.resolve();
    // One waiter for all syncs that find the session down.
    this.sessionWait ??= new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('resynced', up);
        this.sessionWait = undefined;
        reject(new NotConnectedError(`OVN NB not connected within ${this.config.waitForConnectionMs} ms`));
      }, this.config.waitForConnectionMs);
      const up = () => {
        clearTimeout(timer);
        this.sessionWait = undefined;
        resolve();
      };
      client.once('resynced', up);
    });
    return this.sessionWait;
  }

  /** True when the sync should run again: a guard fired, or the connection dropped mid-transaction. */
  private async retryable(e: unknown, attempt: number): Promise<boolean> {
    if (attempt >= this.config.maxAttempts || this.stopping) return false;
    if (e instanceof OvsdbOperationError && e.op.op === 'wait') {
      // Someone else wrote first; the cache will show it in a moment. Re-diff from there.
      this.stats.conflictRetries++;
      await sleep(5 * attempt);
      return true;
    }
    if (e instanceof OvsdbOperationError && e.op.op === 'assert') {
      // Not (or no longer) the lock holder, e.g. just after a reconnect: wait briefly for the grant.
      return this.awaitLock(this.config.writerLock!, 1_000);
    }
    if (e instanceof ConnectionLostError || e instanceof NotConnectedError) {
      this.stats.reconnectRetries++;
      return true;
    }
    return false;
  }

  private awaitLock(name: string, timeoutMs: number): Promise<boolean> {
    const client = this.nb;
    if (client.hasLock(name)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), timeoutMs);
      const onLocked = (n: string) => {
        if (n === name) done(true);
      };
      function done(v: boolean) {
        clearTimeout(timer);
        client.off('locked', onLocked);
        resolve(v);
      }
      client.on('locked', onLocked);
    });
  }

  private neighbourGone(b: nb.StaticMACBinding): void {
    for (const [m, spec] of this.desired) if (spec.ipv4 === b.ip) this.markChanged(m);
  }

  private markChanged(machine: string): void {
    this.changeSeq.set(machine, ++this.seq);
    this.toRestore.add(machine);
  }

  /** The nodes whose switch hangs off the cluster router, as the NB shows them now. */
  nodeSwitches(): string[] {
    return topologyView(this.nb.cache, this.config.names).nodes();
  }

  /** gatewayOnEveryNode: sets the gateway up on every node switch (idempotent; coalesced). */
  private scheduleNodeGateways(): void {
    const gw = this.config.gatewayOnEveryNode;
    if (gw)
      this.scheduleShared('gateway', 'gateway on every node', () =>
        gatewayOps(this.state(), this.nodeSwitches(), { ...gw, form: this.form! }),
      );
  }

  /** The pools' allow policies follow the node subnets: one transaction for all (coalesced). */
  private schedulePoolPolicies(): void {
    this.scheduleShared('pool-policies', 'pool policies update', () =>
      poolPolicyOps(this.state(), topologyView(this.nb.cache, this.config.names).nodeSubnets()),
    );
  }

  /**
   * commitShared 20 ms from now, once for all the calls until then (a node's rows arrive in several
   * changes). A replica without the writer lock, or an NB away: the next change or resync tries again.
   */
  private scheduleShared(key: string, what: string, diff: () => { ops: Operation[] }): void {
    if (this.sharedTimers.has(key) || this.stopping) return;
    this.sharedTimers.set(
      key,
      setTimeout(() => {
        this.sharedTimers.delete(key);
        if (this.stopping) return;
        this.commitShared(key, diff).catch((e: unknown) =>
          this.config.logger?.warn(`ovn driver: ${what} failed`, { error: (e as Error).message }),
        );
      }, 20),
    );
  }

  private scheduleRestore(): void {
    if (this.restoreTimer || this.stopping) return;
    this.restoreTimer = setTimeout(() => {
      this.restoreTimer = undefined;
      const machines = [...this.toRestore];
      this.toRestore.clear();
      for (const m of machines) {
        const spec = this.desired.get(m);
        // A diff that found nothing to do has already seen this change (our own writes, mostly).
        if (!spec || (this.cleanSeq.get(m) ?? -1) >= (this.changeSeq.get(m) ?? 0)) continue;
        void this.serialise(m, async () => {
          // Re-read: a newer ensure/remove may have replaced the spec meanwhile.
          const current = this.desired.get(m);
          if (!current || this.stopping || (this.cleanSeq.get(m) ?? -1) >= (this.changeSeq.get(m) ?? 0))
            return;
          const before = this.stats.transactions;
          await this.sync(m, current);
          if (this.stats.transactions > before) this.stats.restores++;
        }).catch((e: unknown) =>
          this.config.logger?.warn('ovn driver: restore failed', { machine: m, error: (e as Error).message }),
        );
      }
    }, 20);
  }
}
