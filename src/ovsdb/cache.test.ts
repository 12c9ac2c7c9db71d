import { DatabaseCache, type MonitoredColumns, type RowIndex } from './cache.js';
import { CacheInconsistentError } from './errors.js';
import type { ColumnType } from './schema.js';

interface Port {
  _uuid: string;
  name: string;
  addresses: string[];
  external_ids: Record<string, string>;
}
type Tables = { Port: Port };

const columns: MonitoredColumns = new Map([
  [
    'Port',
    new Map<string, ColumnType>([
      ['name', { key: { type: 'string' }, min: 1, max: 1 }],
      ['addresses', { key: { type: 'string' }, min: 0, max: Infinity }],
      ['external_ids', { key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Infinity }],
    ]),
  ],
]);
const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';

function cacheWith(rows: Record<string, Record<string, unknown>>): DatabaseCache<Tables> {
  const c = new DatabaseCache<Tables>({ Port: ['owner'] });
  const updates = Object.fromEntries(Object.entries(rows).map(([u, r]) => [u, { initial: r }]));
  c.replace(DatabaseCache.decodeSnapshot(columns, { Port: updates }));
  return c;
}

describe('DatabaseCache', () => {
  it('fills omitted columns with their defaults and freezes rows', () => {
    const c = cacheWith({ [A]: { name: 'a' } });
    const a = c.get('Port', A)!;
    expect(a).toEqual({ _uuid: A, name: 'a', addresses: [], external_ids: {} });
    expect(Object.isFrozen(a) && Object.isFrozen(a.addresses)).toBe(true);
  });

  it('applies insert, modify and delete and reports each change with old and new rows', () => {
    const c = cacheWith({ [A]: { name: 'a', external_ids: ['map', [['owner', 'x']]] } });
    const changes = c.apply(columns, {
      Port: {
        [A]: { modify: { addresses: 'ip1', external_ids: ['map', [['owner', 'y']]] } },
        [B]: { insert: { name: 'b', external_ids: ['map', [['owner', 'y']]] } },
      },
    });
    expect(changes.map((ch) => [ch.uuid, ch.old?.name, ch.new?.name])).toEqual([
      [A, 'a', 'a'],
      [B, undefined, 'b'],
    ]);
    expect(c.get('Port', A)!.addresses).toEqual(['ip1']);
    expect(c.byExternalId('Port', 'owner', 'x')).toEqual([]);
    expect(
      c
        .byExternalId('Port', 'owner', 'y')
        .map((r) => r.name)
        .sort(),
    ).toEqual(['a', 'b']);

    c.apply(columns, { Port: { [A]: { delete: null } } });
    expect(c.get('Port', A)).toBeUndefined();
    expect(c.byExternalId('Port', 'owner', 'y').map((r) => r.name)).toEqual(['b']);
    expect(c.list('Port')).toHaveLength(1);
  });

  it('scans for external_ids keys it does not index', () => {
    const c = cacheWith({ [A]: { name: 'a', external_ids: ['map', [['other', '1']]] } });
    expect(c.byExternalId('Port', 'other', '1').map((r) => r._uuid)).toEqual([A]);
    expect(c.find('Port', (p) => p.name.startsWith('a'))).toHaveLength(1);
  });

  it('rejects an inconsistent batch without applying any of it', () => {
    const c = cacheWith({ [A]: { name: 'a' } });
    const bad = { Port: { [B]: { insert: { name: 'b' } }, [A]: { insert: { name: 'again' } } } };
    expect(() => c.apply(columns, bad)).toThrow(CacheInconsistentError);
    expect(c.get('Port', B)).toBeUndefined();
    expect(() => c.apply(columns, { Port: { [B]: { modify: { name: 'x' } } } })).toThrow(
      /modify of a row the cache lacks/,
    );
    expect(() => c.apply(columns, { Port: { [B]: { delete: null } } })).toThrow(
      /delete of a row the cache lacks/,
    );
  });

  it('replaces everything at once on a full resync, reporting what differs', () => {
    const c = cacheWith({ [A]: { name: 'a', external_ids: ['map', [['owner', 'x']]] } });
    const changes = c.replace(
      DatabaseCache.decodeSnapshot(columns, { Port: { [B]: { initial: { name: 'b' } } } }),
    );
    expect(changes.map((ch) => [ch.uuid, !!ch.old, !!ch.new])).toEqual([
      [B, false, true],
      [A, true, false],
    ]);
    expect(c.list('Port').map((r) => r.name)).toEqual(['b']);
    expect(c.byExternalId('Port', 'owner', 'x')).toEqual([]);
  });

  it('keeps a column index current through inserts, modifies, deletes and a resync', () => {
    const byAddress: RowIndex<Port> = { name: 'address', keys: (p) => p.addresses };
    const c = new DatabaseCache<Tables>({ Port: ['owner', byAddress] });
    c.replace(
      DatabaseCache.decodeSnapshot(columns, { Port: { [A]: { initial: { name: 'a', addresses: 'ip1' } } } }),
    );
    const holders = (ip: string) => c.byIndex('Port', byAddress, ip).map((p) => p.name);
    expect(holders('ip1')).toEqual(['a']);

    c.apply(columns, {
      Port: {
        [A]: { modify: { addresses: ['set', ['ip1', 'ip2']] } }, // a set diff: ip1 removed, ip2 added
        [B]: { insert: { name: 'b', addresses: ['set', ['ip1', 'ip3']] } },
      },
    });
    expect([holders('ip1'), holders('ip2'), holders('ip3')]).toEqual([['b'], ['a'], ['b']]);

    c.apply(columns, { Port: { [B]: { delete: null } } });
    expect([holders('ip1'), holders('ip3')]).toEqual([[], []]);

    c.replace(
      DatabaseCache.decodeSnapshot(columns, { Port: { [B]: { initial: { name: 'b', addresses: 'ip2' } } } }),
    );
    expect(holders('ip2')).toEqual(['b']);
    // A cache built without the index answers the same by scanning.
    const plain = cacheWith({ [A]: { name: 'a', addresses: ['set', ['ip1', 'ip2']] } });
    expect(plain.byIndex('Port', byAddress, 'ip2').map((p) => p.name)).toEqual(['a']);
  });

  it("bumps a table's generation on every change to it, and only then", () => {
    const c = cacheWith({ [A]: { name: 'a' } });
    const g0 = c.generation('Port');
    c.apply(columns, { Port: {} });
    expect(c.generation('Port')).toBe(g0);
    c.apply(columns, { Port: { [A]: { modify: { name: 'a2' } } } });
    const g1 = c.generation('Port');
    expect(g1).not.toBe(g0);
    c.replace(DatabaseCache.decodeSnapshot(columns, { Port: { [A]: { initial: { name: 'a2' } } } }));
    expect(c.generation('Port')).not.toBe(g1); // a resync's rows are new objects: derived values recompute
  });
});
