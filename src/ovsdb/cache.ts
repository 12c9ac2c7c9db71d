// The in-memory copy of the monitored tables. The client fills it from monitor replies and update2 /
// update3 notifications; everyone else only reads. Rows are frozen snapshots: an update replaces a
// row object rather than changing it, so a row a caller holds never changes under it.
import { applyDiff, decodeValue, defaultValue, type Value } from './data.js';
import { CacheInconsistentError } from './errors.js';
import type { ColumnType } from './schema.js';
import type { TableName } from './ops.js';

type StoredRow = Readonly<Record<string, Value>>;

export interface RowChange<M = Record<string, unknown>> {
  table: TableName<M>;
  uuid: string;
  /** Absent for an insert. */
  old?: Readonly<M[TableName<M>]>;
  /** Absent for a delete. */
  new?: Readonly<M[TableName<M>]>;
}

/** Per table, the external_ids keys to index (the driver looks rows up by its own keys). */
export type ExternalIdIndexes<M> = { [T in TableName<M>]?: string[] };

/** Columns monitored per table, with their types as the server's schema gives them. */
export type MonitoredColumns = Map<string, Map<string, ColumnType>>;

type TableUpdates2 = Record<string, Record<string, Record<string, unknown> | null>>;

function freezeRow(row: Record<string, Value>): StoredRow {
  for (const v of Object.values(row)) if (typeof v === 'object') Object.freeze(v);
  return Object.freeze(row);
}

function decodeRow(columns: Map<string, ColumnType>, uuid: string, json: Record<string, unknown>): StoredRow {
  const row: Record<string, Value> = { _uuid: uuid };
  for (const [col, type] of columns) {
    const v = json[col];
    row[col] = v === undefined ? defaultValue(type) : decodeValue(type, v);
  }
  return freezeRow(row);
}

function modifyRow(
  columns: Map<string, ColumnType>,
  old: StoredRow,
  diff: Record<string, unknown>,
): StoredRow {
  const row: Record<string, Value> = { ...old };
  for (const [col, d] of Object.entries(diff)) {
    const type = columns.get(col);
    if (type) row[col] = applyDiff(type, old[col] ?? defaultValue(type), d);
  }
  return freezeRow(row);
}

export class DatabaseCache<M> {
  private tables = new Map<string, Map<string, StoredRow>>();
  /** table → external_ids key → value → uuids */
  private indexes = new Map<string, Map<string, Map<string, Set<string>>>>();

  constructor(private readonly indexSpec: ExternalIdIndexes<M> = {}) {}

  get<T extends TableName<M>>(table: T, uuid: string): Readonly<M[T]> | undefined {
    return this.tables.get(table)?.get(uuid) as Readonly<M[T]> | undefined;
  }

  list<T extends TableName<M>>(table: T): Readonly<M[T]>[] {
    return [...(this.tables.get(table)?.values() ?? [])] as Readonly<M[T]>[];
  }

  find<T extends TableName<M>>(table: T, predicate: (row: Readonly<M[T]>) => boolean): Readonly<M[T]>[] {
    const out: Readonly<M[T]>[] = [];
    for (const r of this.tables.get(table)?.values() ?? []) {
      if (predicate(r as Readonly<M[T]>)) out.push(r as Readonly<M[T]>);
    }
    return out;
  }

  findOne<T extends TableName<M>>(
    table: T,
    predicate: (row: Readonly<M[T]>) => boolean,
  ): Readonly<M[T]> | undefined {
    for (const r of this.tables.get(table)?.values() ?? [])
      if (predicate(r as Readonly<M[T]>)) return r as Readonly<M[T]>;
    return undefined;
  }

  /** Rows whose external_ids[key] is value: an index lookup when the key is indexed, else a scan. */
  byExternalId<T extends TableName<M>>(table: T, key: string, value: string): Readonly<M[T]>[] {
    const index = this.indexes.get(table)?.get(key);
    if (!index) {
      return this.find(
        table,
        (r) => (r as { external_ids?: Record<string, unknown> }).external_ids?.[key] === value,
      );
    }
    const rows = this.tables.get(table);
    return [...(index.get(value) ?? [])].map((u) => rows!.get(u) as Readonly<M[T]>);
  }

  size(table: TableName<M>): number {
    return this.tables.get(table)?.size ?? 0;
  }

  /** Builds the rows of an initial update (monitor reply) without touching the cache. */
  static decodeSnapshot(
    columns: MonitoredColumns,
    updates: TableUpdates2,
  ): Map<string, Map<string, StoredRow>> {
    const snapshot = new Map<string, Map<string, StoredRow>>();
    for (const table of columns.keys()) snapshot.set(table, new Map());
    for (const [table, rows] of Object.entries(updates)) {
      const cols = columns.get(table);
      const target = snapshot.get(table);
      if (!cols || !target) continue;
      for (const [uuid, u] of Object.entries(rows)) {
        const body = u?.initial ?? u?.insert;
        if (body === undefined)
          throw new CacheInconsistentError(`${table} ${uuid}: a full sync holds only new rows`);
        target.set(uuid, decodeRow(cols, uuid, body as Record<string, unknown>));
      }
    }
    return snapshot;
  }

  /** Swaps in a full copy in one step: readers see the old state or the new one, never a mix. */
  replace(snapshot: Map<string, Map<string, StoredRow>>): RowChange<M>[] {
    const changes: RowChange<M>[] = [];
    for (const [table, rows] of snapshot) {
      const old = this.tables.get(table) ?? new Map<string, StoredRow>();
      for (const [uuid, r] of rows) {
        const o = old.get(uuid);
        if (o !== r) changes.push(this.change(table, uuid, o, r));
      }
      for (const [uuid, o] of old) if (!rows.has(uuid)) changes.push(this.change(table, uuid, o, undefined));
    }
    this.tables = snapshot;
    this.rebuildIndexes();
    return changes;
  }

  /**
   * Applies one update2/update3 batch. All rows are checked before any changes, so an inconsistent
   * batch (insert of a known row, modify or delete of an unknown one) leaves the cache as it was.
   */
  apply(columns: MonitoredColumns, updates: TableUpdates2): RowChange<M>[] {
    const changes: RowChange<M>[] = [];
    for (const [table, rows] of Object.entries(updates)) {
      const cols = columns.get(table);
      if (!cols) continue;
      const current = this.tables.get(table);
      for (const [uuid, u] of Object.entries(rows)) {
        const old = current?.get(uuid);
        const body = u?.initial ?? u?.insert;
        if (body !== undefined) {
          if (old) throw new CacheInconsistentError(`${table} ${uuid}: insert of a row the cache holds`);
          changes.push(
            this.change(table, uuid, undefined, decodeRow(cols, uuid, body as Record<string, unknown>)),
          );
        } else if (u?.modify !== undefined) {
          if (!old) throw new CacheInconsistentError(`${table} ${uuid}: modify of a row the cache lacks`);
          changes.push(
            this.change(table, uuid, old, modifyRow(cols, old, u.modify as Record<string, unknown>)),
          );
        } else if (u === null || 'delete' in (u ?? {})) {
          if (!old) throw new CacheInconsistentError(`${table} ${uuid}: delete of a row the cache lacks`);
          changes.push(this.change(table, uuid, old, undefined));
        }
      }
    }
    for (const c of changes) {
      let rows = this.tables.get(c.table);
      if (!rows) this.tables.set(c.table, (rows = new Map()));
      if (c.old) this.unindex(c.table, c.old as StoredRow);
      if (c.new) {
        rows.set(c.uuid, c.new as StoredRow);
        this.index(c.table, c.new as StoredRow);
      } else rows.delete(c.uuid);
    }
    return changes;
  }

  private change(
    table: string,
    uuid: string,
    old: StoredRow | undefined,
    row: StoredRow | undefined,
  ): RowChange<M> {
    const c: RowChange<M> = { table: table as TableName<M>, uuid };
    if (old) c.old = old as Readonly<M[TableName<M>]>;
    if (row) c.new = row as Readonly<M[TableName<M>]>;
    return c;
  }

  private rebuildIndexes(): void {
    this.indexes.clear();
    for (const [table, keys] of Object.entries(this.indexSpec) as [string, string[]][]) {
      const byKey = new Map<string, Map<string, Set<string>>>();
      for (const k of keys) byKey.set(k, new Map());
      this.indexes.set(table, byKey);
      for (const r of this.tables.get(table)?.values() ?? []) this.index(table, r);
    }
  }

  private index(table: string, row: StoredRow): void {
    const byKey = this.indexes.get(table);
    if (!byKey) return;
    const ids = row.external_ids as Record<string, unknown> | undefined;
    for (const [key, byValue] of byKey) {
      const v = ids?.[key];
      if (typeof v !== 'string') continue;
      let set = byValue.get(v);
      if (!set) byValue.set(v, (set = new Set()));
      set.add(row._uuid as string);
    }
  }

  private unindex(table: string, row: StoredRow): void {
    const byKey = this.indexes.get(table);
    if (!byKey) return;
    const ids = row.external_ids as Record<string, unknown> | undefined;
    for (const [key, byValue] of byKey) {
      const v = ids?.[key];
      if (typeof v !== 'string') continue;
      const set = byValue.get(v);
      set?.delete(row._uuid as string);
      if (set?.size === 0) byValue.delete(v);
    }
  }
}
