// OVSDB data (RFC 7047 §5.1) to and from friendly values: uuids become strings, sets arrays, maps
// records keyed by the key's string form. Column types decide the direction, never the value's shape.
import { columnKind, type Atom, type BaseType, type ColumnType } from './schema.js';

/** A decoded column value. */
export type Value = Atom | Atom[] | Record<string, Atom>;

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAMED_UUID_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** Named UUIDs (RFC 7047 §5.2.1) stand for rows inserted earlier in the same transaction. */
export function isNamedUuid(s: string): boolean {
  return NAMED_UUID_RE.test(s) && !UUID_RE.test(s);
}

export class OvsdbDataError extends Error {
  override name = 'OvsdbDataError';
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function encodeAtom(base: BaseType, v: unknown): unknown {
  switch (base.type) {
    case 'uuid':
      if (typeof v !== 'string') break;
      if (isUuid(v)) return ['uuid', v];
      if (isNamedUuid(v)) return ['named-uuid', v];
      break;
    case 'string':
      if (typeof v === 'string') return v;
      break;
    case 'boolean':
      if (typeof v === 'boolean') return v;
      break;
    case 'integer':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
      break;
    case 'real':
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
      break;
  }
  throw new OvsdbDataError(`not a valid ${base.type}: ${describe(v)}`);
}

export function decodeAtom(base: BaseType, json: unknown): Atom {
  switch (base.type) {
    case 'uuid':
      if (Array.isArray(json) && json.length === 2 && json[0] === 'uuid' && typeof json[1] === 'string') {
        return json[1];
      }
      break;
    case 'string':
      if (typeof json === 'string') return json;
      break;
    case 'boolean':
      if (typeof json === 'boolean') return json;
      break;
    case 'integer':
    case 'real':
      if (typeof json === 'number') return json;
      break;
  }
  throw new OvsdbDataError(`server sent ${describe(json)} for a ${base.type}`);
}

/** A map's key in its record form; the key type turns it back into an atom when encoding. */
function keyString(a: Atom): string {
  return String(a);
}

function mapKeyAtom(base: BaseType, k: string): Atom {
  return base.type === 'integer' || base.type === 'real'
    ? Number(k)
    : base.type === 'boolean'
      ? k === 'true'
      : k;
}

/** Encodes a whole column value. A set column also takes one bare element. */
export function encodeValue(type: ColumnType, v: unknown): unknown {
  switch (columnKind(type)) {
    case 'atom':
      return encodeAtom(type.key, v);
    case 'set': {
      const items = Array.isArray(v) ? v : [v];
      return ['set', items.map((i) => encodeAtom(type.key, i))];
    }
    case 'map': {
      const value = type.value!;
      const entries =
        v instanceof Map ? [...(v as Map<unknown, unknown>)] : Object.entries(asRecord(v, 'map'));
      return [
        'map',
        entries.map(([k, val]) => [
          encodeAtom(type.key, typeof k === 'string' ? mapKeyAtom(type.key, k) : k),
          encodeAtom(value, val),
        ]),
      ];
    }
  }
}

/** A set of keys, as `mutate ... delete` takes to remove map entries by key alone. */
export function encodeKeySet(type: ColumnType, keys: unknown[]): unknown {
  return ['set', keys.map((k) => encodeAtom(type.key, typeof k === 'string' ? mapKeyAtom(type.key, k) : k))];
}

function asRecord(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new OvsdbDataError(`not a valid ${what}: ${describe(v)}`);
  }
  return v as Record<string, unknown>;
}

/** The elements of a wire set: ["set", [...]] or, for a set of one, the bare atom. */
function setElements(json: unknown): unknown[] {
  if (Array.isArray(json) && json[0] === 'set' && json.length === 2 && Array.isArray(json[1])) return json[1];
  return [json];
}

function mapPairs(json: unknown): [unknown, unknown][] {
  if (Array.isArray(json) && json[0] === 'map' && json.length === 2 && Array.isArray(json[1])) {
    return json[1].map((p: unknown) => {
      if (!Array.isArray(p) || p.length !== 2) throw new OvsdbDataError(`bad map pair ${describe(p)}`);
      return [p[0], p[1]];
    });
  }
  throw new OvsdbDataError(`server sent ${describe(json)} for a map`);
}

export function decodeValue(type: ColumnType, json: unknown): Value {
  switch (columnKind(type)) {
    case 'atom':
      return decodeAtom(type.key, json);
    case 'set':
      return setElements(json).map((e) => decodeAtom(type.key, e));
    case 'map': {
      const out: Record<string, Atom> = {};
      for (const [k, v] of mapPairs(json))
        out[keyString(decodeAtom(type.key, k))] = decodeAtom(type.value!, v);
      return out;
    }
  }
}

const ATOM_DEFAULTS: Record<BaseType['type'], Atom> = {
  integer: 0,
  real: 0,
  boolean: false,
  string: '',
  uuid: ZERO_UUID,
};

/** The value a column has when a row leaves it unset; update2 omits columns that hold it. */
export function defaultValue(type: ColumnType): Value {
  switch (columnKind(type)) {
    case 'atom':
      return ATOM_DEFAULTS[type.key.type];
    case 'set':
      return [];
    case 'map':
      return {};
  }
}

/**
 * Applies an update2 "modify" diff (ovsdb-server(7), "update2 notification"): a scalar gets its new
 * value; a set's diff lists elements whose membership toggles; a map's diff holds new keys (added),
 * keys with a different value (replaced) and keys with their current value (removed). ovsdb-server
 * 3.1 sends optional columns (min 0, max 1) whole, as their new value: `5 → 7` comes as `7`, not as
 * the toggle set `[5, 7]`, and clearing comes as `["set", []]`.
 */
export function applyDiff(type: ColumnType, old: Value, diff: unknown): Value {
  // Columns holding at most one element (scalars and optional values) carry their new value instead.
  if (type.max === 1) return decodeValue(type, diff);
  switch (columnKind(type)) {
    case 'atom':
      return decodeAtom(type.key, diff);
    case 'set': {
      const out = [...(old as Atom[])];
      for (const e of setElements(diff)) {
        const a = decodeAtom(type.key, e);
        const i = out.indexOf(a);
        if (i >= 0) out.splice(i, 1);
        else out.push(a);
      }
      return out;
    }
    case 'map': {
      const out: Record<string, Atom> = { ...(old as Record<string, Atom>) };
      for (const [k, v] of mapPairs(diff)) {
        const key = keyString(decodeAtom(type.key, k));
        const val = decodeAtom(type.value!, v);
        if (Object.hasOwn(out, key) && out[key] === val) delete out[key];
        else out[key] = val;
      }
      return out;
    }
  }
}
