// OVSDB locks between two real clients: queueing, assert-guarded writes, steal, and re-acquiring
// after the server restarts.
import { OvsdbClient, OvsdbOperationError, nb } from '../../src/ovsdb/index.js';
import { waitFor } from '../env/processes.js';
import { StandaloneServer } from './servers.js';

describe('OvsdbClient locks', () => {
  let server: StandaloneServer;
  let a: OvsdbClient<nb.Tables>;
  let b: OvsdbClient<nb.Tables>;
  const events: string[] = [];

  beforeAll(async () => {
    server = await StandaloneServer.start();
    const connect = () =>
      OvsdbClient.connect({
        model: nb.model,
        remotes: server.remote,
        tables: ['NB_Global'],
        backoff: { initialMs: 20, maxMs: 200 },
      });
    [a, b] = await Promise.all([connect(), connect()]);
    for (const [who, c] of [
      ['a', a],
      ['b', b],
    ] as const) {
      c.on('locked', (n) => events.push(`${who} locked ${n}`));
      c.on('lockLost', (n) => events.push(`${who} lost ${n}`));
    }
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  const guardedWrite = (c: OvsdbClient<nb.Tables>, v: string) =>
    c.transact([
      c.ops.assert('capk_podnet'),
      c.ops.setMapKeys('NB_Global', [], 'external_ids', { writer: v }),
    ]);

  it('grants one holder, queues the other, and guards writes with assert', async () => {
    expect(await a.lock('capk_podnet')).toBe(true);
    expect(await b.lock('capk_podnet')).toBe(false);
    expect(a.hasLock('capk_podnet') && !b.hasLock('capk_podnet')).toBe(true);

    await guardedWrite(a, 'a');
    const refused = await guardedWrite(b, 'b').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OvsdbOperationError);
    expect((refused as OvsdbOperationError).error).toBe('not owner');
    expect((await server.nbctl('get', 'NB_Global', '.', 'external_ids:writer')).trim()).toBe('a');

    await a.unlock('capk_podnet');
    await waitFor('b granted', async () => (b.hasLock('capk_podnet') ? true : undefined), 5_000, 10);
    await guardedWrite(b, 'b');
    expect(events).toEqual(['a locked capk_podnet', 'b locked capk_podnet']);
  });

  it('lets a client steal the lock, telling the one it was taken from', async () => {
    events.length = 0;
    expect(await a.steal('capk_podnet')).toBe(true);
    await waitFor(
      'b told',
      async () => (events.includes('b lost capk_podnet') ? true : undefined),
      5_000,
      10,
    );
    expect(b.hasLock('capk_podnet')).toBe(false);
    const refused = await guardedWrite(b, 'b2').catch((e: unknown) => e);
    expect((refused as OvsdbOperationError).error).toBe('not owner');
    await guardedWrite(a, 'a2');
  });

  it('asks for its locks again after the server restarts', async () => {
    await b.unlock('capk_podnet');
    events.length = 0;
    await server.stopServer();
    await server.startServer();
    await waitFor('a re-acquires', async () => (a.hasLock('capk_podnet') ? true : undefined), 10_000, 20);
    expect(events).toEqual(['a lost capk_podnet', 'a locked capk_podnet']);
    await guardedWrite(a, 'a3');
    expect((await server.nbctl('get', 'NB_Global', '.', 'external_ids:writer')).trim()).toBe('a3');
  });
});
