import { monitorSinceReply, parseReply, ProtocolError, tableUpdates2, transactReply } from './wire.js';

describe('server reply shapes', () => {
  it('accepts what ovsdb-server sends', () => {
    const updates = {
      T: { u1: { initial: { a: 1 } }, u2: { modify: { b: ['set', []] } }, u3: { delete: null }, u4: null },
    };
    expect(parseReply(tableUpdates2, 'monitor_cond', updates)).toEqual(updates);
    expect(parseReply(monitorSinceReply, 'monitor_cond_since', [true, 'id', {}])).toEqual([true, 'id', {}]);
    const results = [{ uuid: ['uuid', 'x'] }, { count: 1 }, { error: 'timed out', details: 'd' }, null];
    expect(parseReply(transactReply, 'transact', results)).toEqual(results);
  });

  it('refuses other shapes, naming the method and where', () => {
    expect(() => parseReply(tableUpdates2, 'update2', { T: { u1: { initial: 5 } } })).toThrow(ProtocolError);
    expect(() => parseReply(tableUpdates2, 'update2', { T: { u1: { initial: 5 } } })).toThrow(
      /update2: unexpected reply at T.u1/,
    );
    expect(() => parseReply(monitorSinceReply, 'monitor_cond_since', [true, {}])).toThrow(
      /monitor_cond_since/,
    );
    expect(() => parseReply(transactReply, 'transact', { error: 'x' })).toThrow(/transact: unexpected reply/);
  });
});
