// Operations (RFC 7047 §5.2) built from typed rows. Builders only build: they return the wire form
// and never send; `OvsdbClient.transact` alone talks to the server. Values are encoded by the
// model's column types, so a string in a uuid column becomes ["uuid", …] or, for a name declared by
// an insert in the same transaction, ["named-uuid", …].
import { columnKind, columnType, type ColumnType, type TableSchema } from './schema.js';
import { encodeKeySet, encodeValue, OvsdbDataError, isNamedUuid } from './data.js';

/** Column metadata for each table of a database, as generated from its schema. */
export interface DatabaseModel<M> {
  name: string;
  version: string;
  tables: { [T in TableName<M>]: TableSchema };
}

export type TableName<M> = keyof M & string;
/** Columns a caller may write: everything but the server-maintained _uuid and _version. */
export type NewRow<R> = Partial<Omit<R, '_uuid' | '_version'>>;

type Element<V> = V extends readonly (infer E)[] ? E : V;
export type ConditionFunction = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'includes' | 'excludes';
export type Condition<R> = {
  [K in keyof R & string]: [K, ConditionFunction, R[K] | Element<R[K]>];
}[keyof R & string];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation<R> = {
  [K in keyof R & string]: [
    K,
    Mutator,
    R[K] | Element<R[K]> | (R[K] extends readonly unknown[] ? never : string[]),
  ];
}[keyof R & string];

export type WireCondition = [string, ConditionFunction, unknown];
type WireMutation = [string, Mutator, unknown];

export type Operation =
  | { op: 'insert'; table: string; row: Record<string, unknown>; 'uuid-name'?: string }
  | { op: 'select'; table: string; where: WireCondition[]; columns?: string[] }
  | { op: 'update'; table: string; where: WireCondition[]; row: Record<string, unknown> }
  | { op: 'mutate'; table: string; where: WireCondition[]; mutations: WireMutation[] }
  | { op: 'delete'; table: string; where: WireCondition[] }
  | {
      op: 'wait';
      table: string;
      where: WireCondition[];
      columns: string[];
      until: '==' | '!=';
      rows: Record<string, unknown>[];
      timeout?: number;
    }
  | { op: 'commit'; durable: boolean }
  | { op: 'abort' }
  | { op: 'comment'; comment: string }
  | { op: 'assert'; lock: string };

export interface WaitOptions<R> {
  columns: (keyof R & string)[];
  until: '==' | '!=';
  rows: Partial<R>[];
  /** Milliseconds; 0 fails at once when the condition does not hold, absent waits forever. */
  timeoutMs?: number;
}

const SERVER_COLUMNS = new Set(['_uuid', '_version']);

/** Builds operations for one database model. */
export class OpBuilder<M> {
  constructor(readonly model: DatabaseModel<M>) {}

  insert<T extends TableName<M>>(table: T, row: NewRow<M[T]>, uuidName?: string): Operation {
    if (uuidName !== undefined && !isNamedUuid(uuidName)) {
      throw new OvsdbDataError(`uuid-name "${uuidName}" must be an identifier ([A-Za-z_][A-Za-z0-9_]*)`);
    }
    const op: Operation = { op: 'insert', table, row: this.encodeRow(table, row as object) };
    if (uuidName !== undefined) op['uuid-name'] = uuidName;
    return op;
  }

  select<T extends TableName<M>>(
    table: T,
    where: Condition<M[T]>[],
    columns?: (keyof M[T] & string)[],
  ): Operation {
    const op: Operation = { op: 'select', table, where: this.encodeWhere(table, where) };
    if (columns) op.columns = columns;
    return op;
  }

  /** Sets the given columns on every row matching where. */
  update<T extends TableName<M>>(table: T, where: Condition<M[T]>[], row: NewRow<M[T]>): Operation {
    return {
      op: 'update',
      table,
      where: this.encodeWhere(table, where),
      row: this.encodeRow(table, row as object),
    };
  }

  mutate<T extends TableName<M>>(table: T, where: Condition<M[T]>[], mutations: Mutation<M[T]>[]): Operation {
    return {
      op: 'mutate',
      table,
      where: this.encodeWhere(table, where),
      mutations: mutations.map(([col, mutator, value]) => {
        const type = this.column(table, col);
        return [col, mutator, this.encodeMutationValue(type, mutator, value)];
      }),
    };
  }

  /**
   * Sets the given keys of a map column, leaving other keys alone. A map "insert" never replaces an
   * existing key, so the keys are deleted first, in the same operation.
   */
  setMapKeys<T extends TableName<M>>(
    table: T,
    where: Condition<M[T]>[],
    column: keyof M[T] & string,
    entries: Record<string, string | number | boolean>,
  ): Operation {
    const type = this.column(table, column);
    return {
      op: 'mutate',
      table,
      where: this.encodeWhere(table, where),
      mutations: [
        [column, 'delete', encodeKeySet(type, Object.keys(entries))],
        [column, 'insert', encodeValue(type, entries)],
      ],
    };
  }

  delete<T extends TableName<M>>(table: T, where: Condition<M[T]>[]): Operation {
    return { op: 'delete', table, where: this.encodeWhere(table, where) };
  }

  wait<T extends TableName<M>>(table: T, where: Condition<M[T]>[], opts: WaitOptions<M[T]>): Operation {
    const op: Operation = {
      op: 'wait',
      table,
      where: this.encodeWhere(table, where),
      columns: opts.columns,
      until: opts.until,
      rows: opts.rows.map((r) => this.encodeRow(table, r as object, true)),
    };
    if (opts.timeoutMs !== undefined) op.timeout = opts.timeoutMs;
    return op;
  }

  comment(text: string): Operation {
    return { op: 'comment', comment: text };
  }
  commit(durable: boolean): Operation {
    return { op: 'commit', durable };
  }
  abort(): Operation {
    return { op: 'abort' };
  }
  assert(lock: string): Operation {
    return { op: 'assert', lock };
  }

  /** The column's type; unknown tables and columns are caller bugs and fail here, not on the server. */
  column(table: string, column: string): ColumnType {
    const c = columnType(this.table(table), column);
    if (!c) throw new OvsdbDataError(`${this.model.name} table ${table} has no column ${column}`);
    return c;
  }

  private table(table: string): TableSchema {
    const t = (this.model.tables as Record<string, TableSchema | undefined>)[table];
    if (!t) throw new OvsdbDataError(`${this.model.name} has no table ${table}`);
    return t;
  }

  private encodeRow(table: string, row: object, allowServerColumns = false): Record<string, unknown> {
    this.table(table);
    const out: Record<string, unknown> = {};
    for (const [col, v] of Object.entries(row)) {
      if (v === undefined) continue;
      if (SERVER_COLUMNS.has(col) && !allowServerColumns) continue;
      try {
        out[col] = encodeValue(this.column(table, col), v);
      } catch (e) {
        throw new OvsdbDataError(`${table}.${col}: ${(e as Error).message}`);
      }
    }
    return out;
  }

  /** Conditions in wire form, as operations and monitor_cond requests take them. */
  where<T extends TableName<M>>(table: T, where: Condition<M[T]>[]): WireCondition[] {
    return this.encodeWhere(table, where);
  }

  private encodeWhere(table: string, where: readonly unknown[]): WireCondition[] {
    this.table(table);
    return (where as [string, ConditionFunction, unknown][]).map(([col, fn, value]) => {
      const type = this.column(table, col);
      try {
        // Ordering functions compare one atom; the others compare whole values.
        const ordering = fn === '<' || fn === '<=' || fn === '>' || fn === '>=';
        return [
          col,
          fn,
          ordering ? encodeValue({ ...type, min: 1, max: 1 }, value) : encodeValue(type, value),
        ];
      } catch (e) {
        throw new OvsdbDataError(`${table}.${col} ${fn}: ${(e as Error).message}`);
      }
    });
  }

  private encodeMutationValue(type: ColumnType, mutator: Mutator, value: unknown): unknown {
    if (mutator === 'insert' || mutator === 'delete') {
      // Deleting from a map takes either a map (entries that match exactly) or a set of keys.
      if (columnKind(type) === 'map' && Array.isArray(value)) return encodeKeySet(type, value);
      return encodeValue(columnKind(type) === 'atom' ? { ...type, min: 0, max: Infinity } : type, value);
    }
    // Arithmetic applies one scalar to the column or to each element of a set.
    return encodeValue({ key: type.key, min: 1, max: 1 }, value);
  }
}

/** Where a row is the one with this uuid. */
export function byUuid(uuid: string): ['_uuid', '==', string] {
  return ['_uuid', '==', uuid];
}
