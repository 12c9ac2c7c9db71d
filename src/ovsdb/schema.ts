// OVSDB schemas (RFC 7047 §3.2), normalised: every column type has key (and for maps value) base
// types and numeric bounds, so encoders never re-interpret the schema's shorthand forms.
import { z } from 'zod';

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';
export type Atom = string | number | boolean;

export interface BaseType {
  type: AtomicType;
  enum?: Atom[];
  refTable?: string;
  refType?: 'strong' | 'weak';
}

export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  /** Infinity stands for the schema's "unlimited". */
  max: number;
}

export interface TableSchema {
  columns: Record<string, ColumnType>;
  isRoot: boolean;
  indexes: string[][];
}

export interface DatabaseSchema {
  name: string;
  version: string;
  tables: Record<string, TableSchema>;
}

/** How a column's values look once decoded: one atom, an array, or a record. */
export type ColumnKind = 'atom' | 'set' | 'map';

export function columnKind(t: ColumnType): ColumnKind {
  if (t.value) return 'map';
  return t.min === 1 && t.max === 1 ? 'atom' : 'set';
}

/** Every table has these two, though schemas never list them. */
export const UUID_COLUMN: ColumnType = { key: { type: 'uuid' }, min: 1, max: 1 };
export const IMPLICIT_COLUMNS: Record<string, ColumnType> = { _uuid: UUID_COLUMN, _version: UUID_COLUMN };

export function columnType(table: TableSchema, column: string): ColumnType | undefined {
  return table.columns[column] ?? IMPLICIT_COLUMNS[column];
}

const atomicType = z.enum(['integer', 'real', 'boolean', 'string', 'uuid']);
const atomJson = z.union([z.string(), z.number(), z.boolean()]);
const baseTypeJson = z.union([
  atomicType,
  z.looseObject({
    type: atomicType,
    // An enum is an OVSDB set: ["set", [...]] or one bare atom.
    enum: z.union([atomJson, z.tuple([z.literal('set'), z.array(atomJson)])]).optional(),
    refTable: z.string().optional(),
    refType: z.enum(['strong', 'weak']).optional(),
  }),
]);
const columnTypeJson = z.union([
  atomicType,
  z.looseObject({
    key: baseTypeJson,
    value: baseTypeJson.optional(),
    min: z.number().int().min(0).optional(),
    max: z.union([z.number().int().min(1), z.literal('unlimited')]).optional(),
  }),
]);
const schemaJson = z.looseObject({
  name: z.string(),
  version: z.string().default('0.0.0'),
  tables: z.record(
    z.string(),
    z.looseObject({
      columns: z.record(z.string(), z.looseObject({ type: columnTypeJson })),
      isRoot: z.boolean().optional(),
      indexes: z.array(z.array(z.string())).optional(),
    }),
  ),
});

function normaliseBase(b: z.infer<typeof baseTypeJson>): BaseType {
  if (typeof b === 'string') return { type: b };
  const out: BaseType = { type: b.type };
  if (b.enum !== undefined) out.enum = Array.isArray(b.enum) ? b.enum[1] : [b.enum];
  if (b.refTable !== undefined) {
    out.refTable = b.refTable;
    out.refType = b.refType ?? 'strong';
  }
  return out;
}

function normaliseColumn(t: z.infer<typeof columnTypeJson>): ColumnType {
  if (typeof t === 'string') return { key: { type: t }, min: 1, max: 1 };
  const out: ColumnType = {
    key: normaliseBase(t.key),
    min: t.min ?? 1,
    max: t.max === 'unlimited' ? Infinity : (t.max ?? 1),
  };
  if (t.value !== undefined) out.value = normaliseBase(t.value);
  return out;
}

/** Parses a schema as get_schema returns it or as an .ovsschema file holds it. */
export function parseSchema(json: unknown): DatabaseSchema {
  const s = schemaJson.parse(json);
  const tables: Record<string, TableSchema> = {};
  for (const [name, t] of Object.entries(s.tables)) {
    const columns: Record<string, ColumnType> = {};
    for (const [col, c] of Object.entries(t.columns)) columns[col] = normaliseColumn(c.type);
    tables[name] = { columns, isRoot: t.isRoot ?? false, indexes: t.indexes ?? [] };
  }
  return { name: s.name, version: s.version, tables };
}
