// Reads a table the way a different client sees it (ovn-nbctl --format=json list) and decodes it
// with the server's schema, to compare against the client's cache.
import { decodeValue, type Value } from '../../src/ovsdb/data.js';
import { columnType, type DatabaseSchema } from '../../src/ovsdb/schema.js';
import { execFileAsync } from '../env/processes.js';

export async function listViaNbctl(
  nbctl: (...args: string[]) => Promise<string>,
  schema: DatabaseSchema,
  table: string,
): Promise<Map<string, Record<string, Value>>> {
  const out = JSON.parse(await nbctl('--format=json', 'list', table)) as {
    headings: string[];
    data: unknown[][];
  };
  const t = schema.tables[table];
  if (!t) throw new Error(`no table ${table}`);
  const rows = new Map<string, Record<string, Value>>();
  for (const values of out.data) {
    const row: Record<string, Value> = {};
    out.headings.forEach((col, i) => {
      const type = columnType(t, col);
      if (type) row[col] = decodeValue(type, values[i]);
    });
    rows.set(row._uuid as string, row);
  }
  return rows;
}

/** Reads a table with `ovsdb-client query` (no IDL in between), decoded with the server's schema. */
export async function selectViaOvsdbClient(
  remote: string,
  schema: DatabaseSchema,
  table: string,
): Promise<Map<string, Record<string, Value>>> {
  const query = JSON.stringify([schema.name, { op: 'select', table, where: [] }]);
  const { stdout } = await execFileAsync('ovsdb-client', ['query', remote, query]);
  const [result] = JSON.parse(stdout) as [{ rows: Record<string, unknown>[] }];
  const t = schema.tables[table];
  if (!t) throw new Error(`no table ${table}`);
  const rows = new Map<string, Record<string, Value>>();
  for (const wire of result.rows) {
    const row: Record<string, Value> = {};
    for (const [col, v] of Object.entries(wire)) {
      const type = columnType(t, col);
      if (type && col !== '_version') row[col] = decodeValue(type, v);
    }
    rows.set(row._uuid as string, row);
  }
  return rows;
}

/** Rows in one canonical form (uuids, columns, map keys and set members sorted) for comparison. */
export function normalise(rows: Iterable<object>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const list = [...rows] as Record<string, unknown>[];
  list.sort((a, b) => String(a._uuid).localeCompare(String(b._uuid)));
  for (const row of list) {
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(row).sort()) sorted[k] = canonical(row[k]);
    out[row._uuid as string] = sorted;
  }
  return out;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return [...v].sort();
  if (typeof v === 'object' && v !== null) {
    const r = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(r)
        .sort()
        .map((k) => [k, r[k]]),
    );
  }
  return v;
}
