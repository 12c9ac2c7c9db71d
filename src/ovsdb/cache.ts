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

/**
 * A lookup the cache keeps current as rows change, so a caller finds rows by something other than
 * uuid without scanning the table: a row is filed under each key `keys` gives it (none: not filed).
 */
export interface RowIndex<R> {
  name: string;
  keys(row: Readonly<R>): readonly string[];
}

/**
 * Per table, what to index: an external_ids key (the driver looks its rows up by its own keys), or
 * a RowIndex for lookups by column values (a port's name, the switch holding a port).
 */
export type CacheIndexes<M> = { [T in TableName<M>]?: (string | RowIndex<M[T]>)[] };

/** One RowIndex per external_ids key, made once: lookups by it are on every sync's path. */
const externalIdIndexes = new Map<string, RowIndex<Record<string, unknown>>>();
function externalIdIndex(key: string): RowIndex<Record<string, unknown>> {
  let index = externalIdIndexes.get(key);
  if (!index) {
    index = {
      name: `external_ids:${key}`,
      keys: (row) => {
        const v = (row.external_ids as Record<string, unknown> | undefined)?.[key];
        return typeof v === 'string' ? [v] : [];
      },
    };
    externalIdIndexes.set(key, index);
  }
  return index;
}

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
  /** table → index name → key → uuids */
  private indexes = new Map<string, Map<string, Map<string, Set<string>>>>();
  /** table → a counter bumped by every change to it (for values derived from a whole table). */
  private readonly generations = new Map<string, number>();
  /** table → its indexes */
  private readonly indexSpec = new Map<string, RowIndex<Record<string, unknown>>[]>();

  constructor(spec: CacheIndexes<M> = {}) {
    for (const [table, entries] of Object.entries(spec) as [string, (string | RowIndex<never>)[]][]) {
      this.indexSpec.set(
        table,
        entries.map((e) =>
          typeof e === 'string' ? externalIdIndex(e) : (e as RowIndex<Record<string, unknown>>),
        ),
      );
    }
    this.rebuildIndexes();
  }

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
    return this.byIndex(table, externalIdIndex(key) as RowIndex<M[T]>, value);
  }

  /**
   * Rows the index files under `key`: a lookup when the cache was built with this index (by name),
   * else a scan that applies it to every row.
   */
  byIndex<T extends TableName<M>>(table: T, index: RowIndex<M[T]>, key: string): Readonly<M[T]>[] {
    const byKey = this.indexes.get(table)?.get(index.name);
    if (!byKey) return this.find(table, (r) => index.keys(r).includes(key));
    const rows = this.tables.get(table);
    const uuids = byKey.get(key);
    if (!uuids || !rows) return [];
    return [...uuids].map((u) => rows.get(u) as Readonly<M[T]>);
  }

  /**
   * A number that changes whenever the table does: a caller deriving something from the whole
   * table recomputes it only when this differs from the one it derived it at.
   */
  generation(table: TableName<M>): number {
    return this.generations.get(table) ?? 0;
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
    for (const c of changes) this.bump(c.table);
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
      this.bump(c.table);
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

  private bump(table: string): void {
    this.generations.set(table, (this.generations.get(table) ?? 0) + 1);
  }

  private rebuildIndexes(): void {
    this.indexes.clear();
    for (const [table, specs] of this.indexSpec) {
      this.indexes.set(table, new Map(specs.map((x) => [x.name, new Map()])));
      for (const r of this.tables.get(table)?.values() ?? []) this.index(table, r);
    }
  }

  private index(table: string, row: StoredRow): void {
    this.file(table, row, (byKey, k, uuid) => {
      let set = byKey.get(k);
      if (!set) byKey.set(k, (set = new Set()));
      set.add(uuid);
    });
  }

  private unindex(table: string, row: StoredRow): void {
    this.file(table, row, (byKey, k, uuid) => {
      const set = byKey.get(k);
      set?.delete(uuid);
      if (set?.size === 0) byKey.delete(k);
    });
  }

  /** Calls `fn` for each key each of the table's indexes gives the row. */
  private file(
    table: string,
    row: StoredRow,
    fn: (byKey: Map<string, Set<string>>, key: string, uuid: string) => void,
  ): void {
    const byName = this.indexes.get(table);
    if (!byName) return;
    for (const spec of this.indexSpec.get(table)!)
      for (const k of spec.keys(row)) fn(byName.get(spec.name)!, k, row._uuid as string);
  }
}
