import { OpBuilder, byUuid } from './ops.js';
import { OvsdbDataError } from './data.js';
import { model, type Tables } from './generated/ovn-nb.js';

const U1 = '6d1a4b84-0f3c-4a34-9f66-0a1b2c3d4e5f';
const ops = new OpBuilder<Tables>(model);

describe('OpBuilder', () => {
  it('encodes an insert by the model column types, with its uuid-name', () => {
    expect(
      ops.insert(
        'Logical_Switch_Port',
        {
          name: 'p',
          addresses: ['02:00:00:00:00:01 10.0.0.2'],
          tag_request: [5],
          dhcpv4_options: [U1],
          external_ids: { k: 'v' },
        },
        'p_row',
      ),
    ).toEqual({
      op: 'insert',
      table: 'Logical_Switch_Port',
      'uuid-name': 'p_row',
      row: {
        name: 'p',
        addresses: ['set', ['02:00:00:00:00:01 10.0.0.2']],
        tag_request: ['set', [5]],
        dhcpv4_options: ['set', [['uuid', U1]]],
        external_ids: ['map', [['k', 'v']]],
      },
    });
  });

  it('drops _uuid from written rows and skips undefined columns', () => {
    expect(
      ops.update('Logical_Switch', [byUuid(U1)], { name: 'n', other_config: undefined, ...{ _uuid: U1 } }),
    ).toEqual({
      op: 'update',
      table: 'Logical_Switch',
      where: [['_uuid', '==', ['uuid', U1]]],
      row: { name: 'n' },
    });
  });

  it('encodes conditions: whole values for == and includes, one atom for ordering', () => {
    const op = ops.select('Logical_Switch_Port', [
      ['name', '==', 'p'],
      ['addresses', 'includes', 'router'],
      ['tag', '>', 3],
      ['external_ids', 'includes', { 'capk-podnet/owner': 'ns/c' }],
    ]);
    expect(op).toMatchObject({
      where: [
        ['name', '==', 'p'],
        ['addresses', 'includes', ['set', ['router']]],
        ['tag', '>', 3],
        ['external_ids', 'includes', ['map', [['capk-podnet/owner', 'ns/c']]]],
      ],
    });
  });

  it('encodes mutations: sets, map keys to delete, arithmetic on one atom', () => {
    const op = ops.mutate(
      'Logical_Switch',
      [['name', '==', 'sw']],
      [
        ['ports', 'insert', ['new_port']],
        ['external_ids', 'delete', ['a', 'b']],
        ['external_ids', 'insert', { c: '1' }],
      ],
    );
    expect(op).toMatchObject({
      mutations: [
        ['ports', 'insert', ['set', [['named-uuid', 'new_port']]]],
        ['external_ids', 'delete', ['set', ['a', 'b']]],
        ['external_ids', 'insert', ['map', [['c', '1']]]],
      ],
    });
    expect(ops.mutate('Logical_Switch_Port', [], [['tag_request', '+=', 2]])).toMatchObject({
      mutations: [['tag_request', '+=', 2]],
    });
  });

  it('sets map keys with a delete-then-insert in one mutate', () => {
    expect(ops.setMapKeys('Logical_Switch', [], 'external_ids', { a: '1' })).toMatchObject({
      mutations: [
        ['external_ids', 'delete', ['set', ['a']]],
        ['external_ids', 'insert', ['map', [['a', '1']]]],
      ],
    });
  });

  it('builds wait with rows, columns and timeout', () => {
    expect(
      ops.wait('Logical_Switch', [['name', '==', 's']], {
        columns: ['name'],
        until: '!=',
        rows: [{ name: 's' }],
        timeoutMs: 0,
      }),
    ).toEqual({
      op: 'wait',
      table: 'Logical_Switch',
      where: [['name', '==', 's']],
      columns: ['name'],
      until: '!=',
      rows: [{ name: 's' }],
      timeout: 0,
    });
  });

  it('fails on unknown tables, columns, bad uuid-names and bad values before anything is sent', () => {
    expect(() => ops.insert('No_Such' as 'ACL', {})).toThrow(/OVN_Northbound has no table No_Such/);
    expect(() => ops.insert('ACL', { nope: 1 } as object)).toThrow(/table ACL has no column nope/);
    expect(() => ops.insert('ACL', {}, 'bad-name')).toThrow(OvsdbDataError);
    expect(() => ops.insert('ACL', { priority: 'high' as unknown as number })).toThrow(
      /ACL.priority: not a valid integer/,
    );
  });
});
