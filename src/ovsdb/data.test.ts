import { applyDiff, decodeValue, defaultValue, encodeValue, isNamedUuid, OvsdbDataError } from './data.js';
import type { ColumnType } from './schema.js';

const U1 = '6d1a4b84-0f3c-4a34-9f66-0a1b2c3d4e5f';
const U2 = 'a1b2c3d4-0000-4000-8000-000000000002';
const str: ColumnType = { key: { type: 'string' }, min: 1, max: 1 };
const optInt: ColumnType = { key: { type: 'integer' }, min: 0, max: 1 };
const strSet: ColumnType = { key: { type: 'string' }, min: 0, max: Infinity };
const uuidSet: ColumnType = {
  key: { type: 'uuid', refTable: 'T', refType: 'strong' },
  min: 0,
  max: Infinity,
};
const strMap: ColumnType = { key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Infinity };
const intUuidMap: ColumnType = { key: { type: 'integer' }, value: { type: 'uuid' }, min: 0, max: Infinity };

describe('OVSDB data encoding', () => {
  it.each<[string, ColumnType, unknown, unknown]>([
    ['string', str, 'a"b', 'a"b'],
    ['real', { key: { type: 'real' }, min: 1, max: 1 }, 1.5, 1.5],
    ['boolean', { key: { type: 'boolean' }, min: 1, max: 1 }, true, true],
    ['uuid', { key: { type: 'uuid' }, min: 1, max: 1 }, U1, ['uuid', U1]],
    ['optional, empty', optInt, [], ['set', []]],
    ['optional, set', optInt, [5], ['set', [5]]],
    ['set of strings', strSet, ['a', 'b'], ['set', ['a', 'b']]],
    [
      'set of uuids',
      uuidSet,
      [U1, U2],
      [
        'set',
        [
          ['uuid', U1],
          ['uuid', U2],
        ],
      ],
    ],
    [
      'map',
      strMap,
      { a: '1', b: '2' },
      [
        'map',
        [
          ['a', '1'],
          ['b', '2'],
        ],
      ],
    ],
    ['map with integer keys', intUuidMap, { 7: U1 }, ['map', [[7, ['uuid', U1]]]]],
  ])('round-trips a %s', (_what, type, value, wire) => {
    expect(encodeValue(type, value)).toEqual(wire);
    expect(decodeValue(type, wire)).toEqual(value);
  });

  it('decodes a set of one sent as a bare atom', () => {
    expect(decodeValue(strSet, 'only')).toEqual(['only']);
    expect(decodeValue(uuidSet, ['uuid', U1])).toEqual([U1]);
    expect(decodeValue(optInt, 3)).toEqual([3]);
  });

  it('encodes names declared by an insert as named-uuid, real uuids as uuid', () => {
    expect(encodeValue(uuidSet, ['new_port', U1])).toEqual([
      'set',
      [
        ['named-uuid', 'new_port'],
        ['uuid', U1],
      ],
    ]);
    expect(isNamedUuid('row0')).toBe(true);
    expect(isNamedUuid(U1)).toBe(false);
    expect(isNamedUuid('not-an-id')).toBe(false);
  });

  it('accepts one bare element for a set column', () => {
    expect(encodeValue(strSet, 'x')).toEqual(['set', ['x']]);
  });

  it('refuses values of the wrong type, naming the type', () => {
    expect(() => encodeValue(str, 5)).toThrow(new OvsdbDataError('not a valid string: 5'));
    expect(() => encodeValue(optInt, [1.5])).toThrow(/not a valid integer: 1.5/);
    expect(() => encodeValue(uuidSet, ['not a uuid'])).toThrow(/not a valid uuid/);
    expect(() => encodeValue(strMap, ['a'])).toThrow(/not a valid map/);
    expect(() => decodeValue(str, 5)).toThrow(/server sent 5 for a string/);
  });

  it('knows the defaults update2 leaves out', () => {
    expect(defaultValue(str)).toBe('');
    expect(defaultValue({ key: { type: 'integer' }, min: 1, max: 1 })).toBe(0);
    expect(defaultValue(optInt)).toEqual([]);
    expect(defaultValue(strMap)).toEqual({});
  });
});

describe('update2 modify diffs', () => {
  it('replaces a scalar', () => {
    expect(applyDiff(str, 'old', 'new')).toBe('new');
  });

  it('replaces an optional value whole (as ovsdb-server sends it)', () => {
    expect(applyDiff(optInt, [5], 7)).toEqual([7]);
    expect(applyDiff(optInt, [5], ['set', []])).toEqual([]);
    expect(applyDiff(optInt, [], 1)).toEqual([1]);
  });

  it('toggles set membership', () => {
    expect(applyDiff(strSet, ['a', 'b', 'c'], ['set', ['b', 'd']])).toEqual(['a', 'c', 'd']);
    expect(applyDiff(strSet, ['a'], 'a')).toEqual([]);
  });

  it('adds new map keys, replaces changed values and removes keys given with their current value', () => {
    const old = { keep: '1', change: 'old', drop: 'x' };
    const diff = [
      'map',
      [
        ['change', 'new'],
        ['drop', 'x'],
        ['add', 'y'],
      ],
    ];
    expect(applyDiff(strMap, old, diff)).toEqual({ keep: '1', change: 'new', add: 'y' });
    expect(old).toEqual({ keep: '1', change: 'old', drop: 'x' }); // not mutated
  });
});
