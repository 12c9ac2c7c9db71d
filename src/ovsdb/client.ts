// The OVSDB client: one session at a time to one of the remotes (the RAFT leader when there are
// several), a monitor that keeps DatabaseCache equal to the server, and transact. On every
// (re)connect the cache is either resumed from the last transaction id (monitor_cond_since, found)
// or replaced whole from a fresh monitor reply, so it is never partly stale.
import { EventEmitter } from 'node:events';
import { DatabaseCache, type CacheIndexes, type MonitoredColumns, type RowChange } from './cache.js';
import { decodeValue, ZERO_UUID, type Value } from './data.js';
import {
  CacheInconsistentError,
  NotConnectedError,
  OvsdbCommitError,
  OvsdbError,
  OvsdbOperationError,
  RpcError,
  type ServerError,
} from './errors.js';
import {
  OpBuilder,
  type Condition,
  type DatabaseModel,
  type Operation,
  type TableName,
  type WireCondition,
} from './ops.js';
import { RpcConnection } from './rpc.js';
import { columnType, parseSchema, type ColumnType, type DatabaseSchema, type TableSchema } from './schema.js';
import { openStream, parseRemotes, type Remote, type TlsOptions } from './transport.js';
import {
  monitorSinceReply,
  parseReply,
  stringList,
  tableUpdates2,
  transactReply,
  update2Params,
  update3Params,
  type WireOperationResult,
} from './wire.js';

export interface Logger {
  debug(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
}

export interface OvsdbClientOptions<M> {
  model: DatabaseModel<M>;
  /** `unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT`; several (array or comma-separated) for a cluster. */
  remotes: string | string[];
  /** Tables to monitor into the cache; default every table of the model. */
  tables?: TableName<M>[];
  /**
   * Per table, monitor only rows matching these conditions (monitor_cond). Unlike a transaction's
   * where, the clauses are alternatives: a row is cached when any one holds. Rows that stop
   * matching leave the cache as if deleted.
   */
  conditions?: MonitorConditions<M>;
  /** What the cache indexes per table, for `cache.byExternalId` and `cache.byIndex`. */
  indexes?: CacheIndexes<M>;
  tls?: TlsOptions;
  /**
   * Only use a clustered member that is the leader; default true when several remotes are given.
   * A member that is not connected to its cluster is never used.
   */
  leaderOnly?: boolean;
  /** Echo after this long without traffic; no reply within as long again drops the session. 0 = off. */
  inactivityProbeMs?: number;
  connectTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  /** How long transact (and connect) wait for a session before NotConnectedError. */
  waitForConnectionMs?: number;
  logger?: Logger;
}

export type MonitorConditions<M> = { [T in TableName<M>]?: Condition<M[T]>[] };

export interface Resync {
  remote: string;
  /** True when monitor_cond_since resumed from the last transaction id: only the diff was applied. */
  resumed: boolean;
}

export interface OvsdbClientEvents<M> {
  connected: [remote: string];
  disconnected: [reason: Error | undefined];
  /** The cache matches the server again after a (re)connect; consumers should re-diff. */
  resynced: [Resync];
  change: [RowChange<M>[]];
  /** This client now holds the named lock (granted after waiting, or re-acquired after a reconnect). */
  locked: [name: string];
  /** This client no longer holds the named lock: another client stole it, or the session ended. */
  lockLost: [name: string];
}

export interface OperationResult {
  uuid?: string;
  count?: number;
  rows?: Record<string, Value>[];
}

/** The data monitor of one session; a new one replaces it when the monitored tables change. */
interface DataMonitor {
  id: string;
  columns: MonitoredColumns;
  /** Updates that arrive before the monitor reply has been installed wait here, in order. */
  queued?: [method: string, params: unknown[]][];
}
const SERVER_MONITOR = 'server';
const SERVER_DATABASE_COLUMNS: Map<string, ColumnType> = new Map([
  ['name', { key: { type: 'string' }, min: 1, max: 1 }],
  ['model', { key: { type: 'string' }, min: 1, max: 1 }],
  ['connected', { key: { type: 'boolean' }, min: 1, max: 1 }],
  ['leader', { key: { type: 'boolean' }, min: 1, max: 1 }],
]);

const SERVER_MONITORED: MonitoredColumns = new Map([['Database', SERVER_DATABASE_COLUMNS]]);

const noopLogger: Logger = { debug() {}, info() {}, warn() {} };

class NotLeaderError extends OvsdbError {
  override name = 'NotLeaderError';
}

export class OvsdbClient<M> extends EventEmitter<OvsdbClientEvents<M>> {
  readonly cache: DatabaseCache<M>;
  readonly ops: OpBuilder<M>;
  private readonly remotes: Remote[];
  private readonly log: Logger;
  private readonly leaderOnly: boolean;
  private rpc: RpcConnection | undefined;
  /** A session being set up, not yet usable; close() must end it too. */
  private starting: RpcConnection | undefined;
  private serverSchema: DatabaseSchema | undefined;
  private lastTxnId: string | undefined;
  /** Whether the cache once held a complete copy, so that a resume can build on it. */
  private synced = false;
  private sinceSupported: boolean | undefined;
  private closing = false;
  private lastError: Error | undefined;
  private cancelSleep: (() => void) | undefined;
  private waiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private tables: TableName<M>[];
  private conditions: MonitorConditions<M>;
  private dataMonitor: DataMonitor | undefined;
  private monitorSeq = 0;
  /** This session's row of _Server.Database for our database: model, connected, leader. */
  private readonly serverDb = new DatabaseCache<{ Database: Record<string, Value> }>();
  private monitorSignature: string | undefined;
  /** Locks asked for (and not unlocked): each session asks for them again. */
  private readonly wantedLocks = new Set<string>();
  private readonly heldLocks = new Set<string>();

  private constructor(private readonly opts: OvsdbClientOptions<M>) {
    super();
    this.remotes = parseRemotes(opts.remotes);
    this.cache = new DatabaseCache<M>(opts.indexes);
    this.ops = new OpBuilder(opts.model);
    this.log = opts.logger ?? noopLogger;
    this.leaderOnly = opts.leaderOnly ?? this.remotes.length > 1;
    this.tables = opts.tables ?? (Object.keys(opts.model.tables) as TableName<M>[]);
    this.conditions = opts.conditions ?? {};
  }

  /** Connects and waits for the first full cache sync; then keeps the session up until close(). */
  static async connect<M>(opts: OvsdbClientOptions<M>): Promise<OvsdbClient<M>> {
    const c = new OvsdbClient(opts);
    c.running = c.run();
    try {
      await c.session(opts.waitForConnectionMs ?? 10_000);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  get connected(): boolean {
    return this.rpc !== undefined;
  }
  /** The remote of the current session. */
  get remote(): string | undefined {
    return this.rpc?.remote;
  }
  /** The server's schema as of the current session (the model may be older or newer). */
  get schema(): DatabaseSchema | undefined {
    return this.serverSchema;
  }
  get database(): string {
    return this.opts.model.name;
  }

  /**
   * Sends the operations as one transaction and checks every result. Throws OvsdbOperationError
   * naming the failed operation, OvsdbCommitError when the commit failed, NotConnectedError when no
   * session comes up within waitForConnectionMs, ConnectionLostError when the outcome is unknown.
   * When it resolves, the cache already shows the transaction's effect on monitored tables:
   * ovsdb-server flushes a session's monitor updates before sending it any reply
   * (ovsdb_jsonrpc_session_send), and updates are applied as they are read, in order.
   */
  async transact(ops: Operation[], opts: { waitForConnectionMs?: number } = {}): Promise<OperationResult[]> {
    if (ops.length === 0) return [];
    const rpc = await this.session(opts.waitForConnectionMs ?? this.opts.waitForConnectionMs ?? 10_000);
    const raw = await rpc.request('transact', [this.database, ...ops]);
    return this.checkResults(ops, raw);
  }

  async listDbs(): Promise<string[]> {
    return parseReply(stringList, 'list_dbs', await (await this.session()).request('list_dbs', []));
  }

  async getSchema(database = this.database): Promise<DatabaseSchema> {
    return parseSchema(await (await this.session()).request('get_schema', [database]));
  }

  /** A round trip to the server; resolves with what it echoed. */
  async echo(...params: unknown[]): Promise<unknown[]> {
    return (await (await this.session()).request('echo', params)) as unknown[];
  }

  /**
   * Changes the monitored tables and conditions: cancels the session's monitor (monitor_cancel) and
   * starts one for the new tables, replacing the cache in one step; rows no longer monitored are dropped.
   * Emits 'resynced'. Without a session, the next one monitors the new tables.
   */
  async setTables(tables: TableName<M>[], conditions: MonitorConditions<M> = {}): Promise<void> {
    this.tables = [...tables];
    this.conditions = conditions;
    const rpc = this.rpc;
    if (!rpc || !this.serverSchema) return;
    const old = this.dataMonitor;
    this.dataMonitor = undefined;
    // The cache lacks the new tables, so this is a full copy, not a resume.
    this.synced = false;
    try {
      if (old) await rpc.request('monitor_cancel', [old.id]);
      await this.monitor(rpc, this.serverSchema);
    } catch (e) {
      if (rpc.isClosed) return; // the next session monitors the new tables
      throw e;
    }
    this.emit('resynced', { remote: rpc.remote, resumed: false });
  }

  /**
   * Asks for an OVSDB lock (RFC 7047 §4.1.8). Resolves true when this session holds it now; false
   * when it is queued behind another client, and 'locked' fires once granted. The wish outlives the
   * session: after a reconnect the lock is asked for again. Guard writes with `ops.assert(name)`.
   */
  async lock(name: string): Promise<boolean> {
    this.wantedLocks.add(name);
    return this.requestLock(await this.session(), 'lock', name);
  }

  /** Takes the lock from whoever holds it (they get 'stolen'). */
  async steal(name: string): Promise<boolean> {
    const rpc = await this.session();
    // The server takes one request per lock and session: a pending "lock" has to go first.
    if (this.wantedLocks.has(name)) await rpc.request('unlock', [name]);
    this.heldLocks.delete(name);
    this.wantedLocks.add(name);
    return this.requestLock(rpc, 'steal', name);
  }

  async unlock(name: string): Promise<void> {
    this.wantedLocks.delete(name);
    this.heldLocks.delete(name);
    if (this.rpc) await this.rpc.request('unlock', [name]);
  }

  hasLock(name: string): boolean {
    return this.heldLocks.has(name);
  }

  private async requestLock(rpc: RpcConnection, method: 'lock' | 'steal', name: string): Promise<boolean> {
    const reply = await rpc.request(method, [name]);
    const locked = (reply as { locked?: unknown } | null)?.locked === true;
    if (locked && !this.heldLocks.has(name)) {
      this.heldLocks.add(name);
      this.emit('locked', name);
    }
    return locked;
  }

  private onLockNotification(method: 'locked' | 'stolen', name: unknown): void {
    if (typeof name !== 'string') return;
    if (method === 'locked' && this.wantedLocks.has(name) && !this.heldLocks.has(name)) {
      this.heldLocks.add(name);
      this.emit('locked', name);
    } else if (method === 'stolen' && this.heldLocks.delete(name)) {
      this.emit('lockLost', name);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.cancelSleep?.();
    this.rpc?.close();
    this.starting?.close();
    for (const w of this.waiters.splice(0)) w();
    await this.running;
  }

  /** The current session, waiting up to waitMs for one. */
  private async session(waitMs = this.opts.waitForConnectionMs ?? 10_000): Promise<RpcConnection> {
    if (this.rpc) return this.rpc;
    if (this.closing) throw new NotConnectedError(`${this.database}: client is closed`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
    if (this.rpc) return this.rpc;
    const why = this.lastError ? ` (last error: ${this.lastError.message})` : '';
    throw new NotConnectedError(
      `${this.database}: not connected to ${this.remotes.map((r) => r.text).join(',')} within ${waitMs} ms${why}`,
    );
  }

  private async run(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 100, maxMs: 5_000 };
    let failures = 0;
    let next = 0;
    while (!this.closing) {
      const remote = this.remotes[next % this.remotes.length]!;
      next++;
      let rpc: RpcConnection | undefined;
      try {
        rpc = await this.start(remote);
      } catch (e) {
        this.lastError = e as Error;
        this.log.debug('ovsdb session failed', { remote: remote.text, error: (e as Error).message });
      }
      if (rpc) {
        failures = 0;
        const reason = await new Promise<Error | undefined>((resolve) => {
          if (rpc.isClosed) resolve(undefined);
          else rpc.once('close', resolve);
        });
        this.rpc = undefined;
        this.lastError = reason;
        this.log.info('ovsdb session ended', { remote: remote.text, reason: reason?.message });
        for (const name of this.heldLocks) this.emit('lockLost', name);
        this.heldLocks.clear();
        this.emit('disconnected', reason);
      } else if (this.lastError instanceof NotLeaderError && next % this.remotes.length !== 0) {
        continue; // try the next member at once; back off only after a full round
      } else {
        failures++;
      }
      if (this.closing) break;
      const base = failures === 0 ? initialMs : Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 16));
      await this.sleep(base / 2 + Math.random() * (base / 2));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.cancelSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Opens a session and syncs the cache; resolves once it is usable. */
  private async start(remote: Remote): Promise<RpcConnection> {
    const socket = await openStream(remote, this.opts.tls, this.opts.connectTimeoutMs ?? 5_000);
    if (this.closing) {
      socket.destroy();
      throw new NotConnectedError(`${this.database}: client is closed`);
    }
    const rpc = new RpcConnection(socket, remote.text);
    this.starting = rpc;
    let serverQueued: unknown[] | undefined = [];
    this.serverDb.replace(DatabaseCache.decodeSnapshot(SERVER_MONITORED, {}));
    this.dataMonitor = undefined;
    rpc.on('notification', (method, params) => {
      if (method === 'locked' || method === 'stolen') {
        this.onLockNotification(method, params[0]);
        return;
      }
      if (method !== 'update2' && method !== 'update3') return;
      if (params[0] === SERVER_MONITOR) {
        if (serverQueued) serverQueued.push(params[1]);
        else this.onServerUpdate(rpc, params[1]);
        return;
      }
      const m = this.dataMonitor;
      if (!m || params[0] !== m.id) return; // late updates of a cancelled monitor
      if (m.queued) m.queued.push([method, params]);
      else this.onDataUpdate(rpc, m.columns, method, params);
    });
    try {
      rpc.startKeepalive(this.opts.inactivityProbeMs ?? 5_000);
      const schema = parseSchema(await rpc.request('get_schema', [this.database]));
      if (schema.version.split('.')[0] !== this.opts.model.version.split('.')[0]) {
        // A major version change may rename or retype columns: only the shared ones are monitored.
        this.log.warn('server schema major version differs from the model', {
          server: schema.version,
          model: this.opts.model.version,
        });
      }
      await this.watchMembership(rpc);
      for (const u of serverQueued) this.onServerUpdate(rpc, u);
      serverQueued = undefined;
      const resumed = await this.monitor(rpc, schema);
      if (rpc.isClosed) throw new OvsdbError(`${remote.text}: session closed during sync`);
      this.serverSchema = schema;
      this.rpc = rpc;
      this.lastError = undefined;
      this.log.info('ovsdb session up', { remote: remote.text, resumed });
      this.emit('connected', remote.text);
      this.emit('resynced', { remote: remote.text, resumed });
      for (const name of this.wantedLocks) void this.requestLock(rpc, 'lock', name).catch(() => undefined);
      for (const w of this.waiters.splice(0)) w();
      return rpc;
    } catch (e) {
      rpc.close();
      throw e;
    } finally {
      this.starting = undefined;
    }
  }

  /** Model columns the server also has: an older or newer schema on either side still works. */
  private monitoredColumns(schema: DatabaseSchema): MonitoredColumns {
    const out: MonitoredColumns = new Map();
    for (const t of this.tables) {
      const server = schema.tables[t];
      const model = (this.opts.model.tables as Record<string, { columns: Record<string, ColumnType> }>)[t];
      if (!server || !model) {
        this.log.warn('table missing from server schema, not monitored', { table: t });
        continue;
      }
      const cols = new Map<string, ColumnType>();
      for (const c of Object.keys(model.columns)) {
        const type = columnType(server, c);
        if (type) cols.set(c, type);
      }
      out.set(t, cols);
    }
    return out;
  }

  /** Sends a new data monitor and installs its reply; true when it resumed from lastTxnId. */
  private async monitor(rpc: RpcConnection, schema: DatabaseSchema): Promise<boolean> {
    const columns = this.monitoredColumns(schema);
    const monitor: DataMonitor = { id: `data-${++this.monitorSeq}`, columns, queued: [] };
    this.dataMonitor = monitor;
    const resumed = await this.requestMonitor(rpc, monitor);
    for (const [method, params] of monitor.queued!) this.onDataUpdate(rpc, columns, method, params);
    monitor.queued = undefined;
    return resumed;
  }

  private async requestMonitor(rpc: RpcConnection, { id, columns }: DataMonitor): Promise<boolean> {
    const requests: Record<string, { columns: string[]; where?: WireCondition[] }[]> = {};
    for (const [t, cols] of columns) {
      const where = this.conditions[t as TableName<M>];
      requests[t] = [
        where
          ? { columns: [...cols.keys()], where: this.ops.where(t as TableName<M>, where) }
          : { columns: [...cols.keys()] },
      ];
    }
    if (this.sinceSupported !== false) {
      // A resume only makes sense for the same monitor: same tables, columns and conditions.
      const signature = JSON.stringify([...columns].map(([t, c]) => [t, [...c.keys()], requests[t]]));
      const sameMonitor = signature === this.monitorSignature;
      this.monitorSignature = signature;
      const since = this.synced && this.lastTxnId && sameMonitor ? this.lastTxnId : ZERO_UUID;
      try {
        const reply = await rpc.request('monitor_cond_since', [this.database, id, requests, since]);
        this.sinceSupported = true;
        const [found, lastId, updates] = parseReply(monitorSinceReply, 'monitor_cond_since', reply);
        if (found && since !== ZERO_UUID) this.emitChanges(this.cache.apply(columns, updates));
        else this.emitChanges(this.cache.replace(DatabaseCache.decodeSnapshot(columns, updates)));
        this.lastTxnId = lastId;
        this.synced = true;
        return found && since !== ZERO_UUID;
      } catch (e) {
        if (!(e instanceof RpcError)) throw e;
        this.log.info('monitor_cond_since refused, using monitor_cond', { error: e.message });
        this.sinceSupported = false;
      }
    }
    const reply = await rpc.request('monitor_cond', [this.database, id, requests]);
    const updates = parseReply(tableUpdates2, 'monitor_cond', reply);
    this.emitChanges(this.cache.replace(DatabaseCache.decodeSnapshot(columns, updates)));
    this.lastTxnId = undefined;
    this.synced = true;
    return false;
  }

  private onDataUpdate(
    rpc: RpcConnection,
    columns: MonitoredColumns,
    method: string,
    params: unknown[],
  ): void {
    try {
      if (method === 'update3') {
        const [, lastId, updates] = parseReply(update3Params, 'update3', params);
        this.emitChanges(this.cache.apply(columns, updates));
        this.lastTxnId = lastId;
      } else {
        this.emitChanges(this.cache.apply(columns, parseReply(update2Params, 'update2', params)[1]));
      }
    } catch (e) {
      // A cache that missed something can only be trusted again after a full rebuild.
      this.synced = false;
      this.lastTxnId = undefined;
      this.log.warn('ovsdb cache inconsistent, reconnecting', { error: (e as Error).message });
      rpc.close(e instanceof CacheInconsistentError ? e : new CacheInconsistentError((e as Error).message));
    }
  }

  private emitChanges(changes: RowChange<M>[]): void {
    if (changes.length) this.emit('change', changes);
  }

  /**
   * Rejects a clustered member cut off from its cluster (its data may be stale) or, with leaderOnly,
   * one that is not the leader; and drops the session when that changes later.
   */
  private async watchMembership(rpc: RpcConnection): Promise<void> {
    const json = await rpc.request('monitor_cond', [
      '_Server',
      SERVER_MONITOR,
      {
        Database: [{ columns: [...SERVER_DATABASE_COLUMNS.keys()], where: [['name', '==', this.database]] }],
      },
    ]);
    this.serverDb.replace(
      DatabaseCache.decodeSnapshot(SERVER_MONITORED, parseReply(tableUpdates2, 'monitor_cond _Server', json)),
    );
    const why = this.leadershipProblem();
    if (why) throw new NotLeaderError(`${rpc.remote}: ${why}`);
  }

  private onServerUpdate(rpc: RpcConnection, json: unknown): void {
    try {
      this.serverDb.apply(SERVER_MONITORED, parseReply(tableUpdates2, 'update2 _Server', json));
    } catch (e) {
      rpc.close(e as Error);
      return;
    }
    const why = this.leadershipProblem();
    if (why) {
      this.log.info('ovsdb leadership moved, reconnecting', { remote: rpc.remote, why });
      rpc.close(new NotLeaderError(`${rpc.remote}: ${why}`));
    }
  }

  private leadershipProblem(): string | undefined {
    const row = this.serverDb.list('Database')[0];
    if (!row) return `server has no database ${this.database}`;
    if (row.model !== 'clustered') return undefined;
    if (!row.connected) return 'member is not connected to its cluster';
    if (this.leaderOnly && !row.leader) return 'member is not the cluster leader';
    return undefined;
  }

  private checkResults(ops: Operation[], json: unknown): OperationResult[] {
    const raw = parseReply(transactReply, 'transact', json);
    if (raw.length < ops.length)
      throw new OvsdbError(`transact: ${raw.length} results for ${ops.length} operations`);
    const results: OperationResult[] = [];
    for (const [i, op] of ops.entries()) {
      const r = raw[i];
      if (r?.error !== undefined) throw new OvsdbOperationError(i, op, r as ServerError);
      if (!r) throw new OvsdbError(`transact: no result for operation ${i} (${op.op})`);
      results.push(this.decodeResult(op, r));
    }
    const extra = raw[ops.length];
    if (extra?.error !== undefined) throw new OvsdbCommitError(extra as ServerError);
    return results;
  }

  private columnOrUndefined(table: string, column: string): ColumnType | undefined {
    const server = this.serverSchema?.tables[table];
    const model = (this.opts.model.tables as Record<string, TableSchema | undefined>)[table];
    return (server && columnType(server, column)) ?? (model && columnType(model, column));
  }

  private decodeResult(op: Operation, r: NonNullable<WireOperationResult>): OperationResult {
    const out: OperationResult = {};
    if (r.uuid) out.uuid = r.uuid[1];
    if (r.count !== undefined) out.count = r.count;
    if (r.rows && 'table' in op) {
      out.rows = r.rows.map((row) => {
        const decoded: Record<string, Value> = {};
        for (const [col, v] of Object.entries(row)) {
          const type = this.columnOrUndefined(op.table, col);
          // A column the model does not know (newer server schema) is passed through undecoded.
          decoded[col] = type ? decodeValue(type, v) : (v as Value);
        }
        return decoded;
      });
    }
    return out;
  }
}

/** The real uuid of each named insert: uuid-name → uuid. */
export function insertedUuids(ops: Operation[], results: OperationResult[]): Record<string, string> {
  const out: Record<string, string> = {};
  ops.forEach((op, i) => {
    const uuid = results[i]?.uuid;
    if (op.op === 'insert' && op['uuid-name'] && uuid) out[op['uuid-name']] = uuid;
  });
  return out;
}
