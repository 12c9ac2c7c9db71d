// Losing the server mid-use: the client reconnects with backoff and rebuilds its cache so that it
// equals the server afterwards (rows changed while it was away included), transact waits for the
// session or fails with NotConnectedError, and a hung server is detected by the inactivity probe.
import { ConnectionLostError, OvsdbClient, NotConnectedError, nb } from '../../src/ovsdb/index.js';
import type { Resync } from '../../src/ovsdb/index.js';
import { waitFor } from '../env/processes.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NB_SCHEMA, StandaloneServer } from './servers.js';
import { listViaNbctl, normalise, selectViaOvsdbClient } from './compare.js';

describe('OvsdbClient reconnect', () => {
  let server: StandaloneServer;
  let client: OvsdbClient<nb.Tables>;
  const resyncs: Resync[] = [];
  let disconnects = 0;

  beforeAll(async () => {
    server = await StandaloneServer.start();
    client = await OvsdbClient.connect({
      model: nb.model,
      remotes: server.remote,
      tables: ['Logical_Switch'],
      backoff: { initialMs: 20, maxMs: 200 },
      inactivityProbeMs: 300,
    });
    client.on('resynced', (r) => resyncs.push(r));
    client.on('disconnected', () => disconnects++);
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  async function serverSwitches() {
    return normalise(
      (await listViaNbctl((...a) => server.nbctl(...a), client.schema!, 'Logical_Switch')).values(),
    );
  }

  it('rebuilds the cache after a restart, dropping rows deleted while it was away', async () => {
    await server.nbctl(
      'ls-add',
      'gone',
      '--',
      'ls-add',
      'kept',
      '--',
      'set',
      'Logical_Switch',
      'kept',
      'external_ids:v=1',
    );
    await waitFor(
      'both switches cached',
      async () => (client.cache.size('Logical_Switch') === 2 ? true : undefined),
      5_000,
      10,
    );
    const gone = client.cache.findOne('Logical_Switch', (s) => s.name === 'gone')!;
    const kept = client.cache.findOne('Logical_Switch', (s) => s.name === 'kept')!;

    const before = resyncs.length;
    await server.stopServer();
    await waitFor('client to notice', async () => (client.connected ? undefined : true), 5_000, 10);
    // Another writer changes the database while the client cannot see it.
    await server.offlineTransact([
      { op: 'delete', table: 'Logical_Switch', where: [['name', '==', 'gone']] },
      { op: 'insert', table: 'Logical_Switch', row: { name: 'born' } },
      {
        op: 'update',
        table: 'Logical_Switch',
        where: [['name', '==', 'kept']],
        row: { external_ids: ['map', [['v', '2']]] },
      },
    ]);
    await server.startServer();
    await waitFor('resync', async () => (resyncs.length > before ? true : undefined), 10_000, 10);

    // A standalone server keeps no transaction history: the cache was rebuilt, not resumed.
    expect(resyncs.at(-1)!.resumed).toBe(false);
    expect(client.cache.get('Logical_Switch', gone._uuid)).toBeUndefined();
    expect(client.cache.get('Logical_Switch', kept._uuid)!.external_ids).toEqual({ v: '2' });
    expect(
      client.cache
        .list('Logical_Switch')
        .map((s) => s.name)
        .sort(),
    ).toEqual(['born', 'kept']);
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(await serverSwitches());
  });

  it('holds a transact until the server is back, and fails one that waits too short', async () => {
    await server.stopServer();
    await waitFor('client to notice', async () => (client.connected ? undefined : true), 5_000, 10);

    const short = await client
      .transact([client.ops.insert('Logical_Switch', { name: 'too-early' })], { waitForConnectionMs: 100 })
      .catch((e: unknown) => e);
    expect(short).toBeInstanceOf(NotConnectedError);
    expect((short as Error).message).toMatch(/not connected to unix:.*within 100 ms/);

    const held = client.transact([client.ops.insert('Logical_Switch', { name: 'held' })], {
      waitForConnectionMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    await server.startServer();
    const [r] = await held;
    expect(r!.uuid).toBeDefined();
    expect(
      (await server.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=too-early')).trim(),
    ).toBe('');
    await waitFor('held in cache', async () => client.cache.get('Logical_Switch', r!.uuid!), 5_000, 10);
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(await serverSwitches());
  });

  it('drops a session whose server stops answering, and comes back when it does', async () => {
    const before = disconnects;
    const resyncsBefore = resyncs.length;
    process.kill(server.pid!, 'SIGSTOP');
    try {
      // No reply to the echo within two probe intervals (300 ms each) means dead.
      await waitFor('probe to fail', async () => (disconnects > before ? true : undefined), 3_000, 10);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
    await waitFor(
      'resync after SIGCONT',
      async () => (resyncs.length > resyncsBefore ? true : undefined),
      10_000,
      10,
    );
    await server.nbctl('ls-add', 'after-stall');
    await waitFor(
      'after-stall cached',
      async () => client.cache.findOne('Logical_Switch', (s) => s.name === 'after-stall'),
      5_000,
      10,
    );
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(await serverSwitches());
  });

  it('fails a transaction in flight when the session drops, saying its outcome is unknown', async () => {
    // A wait the server cannot satisfy keeps the transaction pending on the server side.
    const pending = client
      .transact([
        client.ops.wait('Logical_Switch', [['name', '==', 'no-such-switch']], {
          columns: ['name'],
          until: '!=',
          rows: [],
          timeoutMs: 60_000,
        }),
        client.ops.insert('Logical_Switch', { name: 'in-flight' }),
      ])
      .catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 200));
    await server.stopServer();
    const err = await pending;
    expect(err).toBeInstanceOf(ConnectionLostError);
    expect((err as Error).message).toMatch(/reply to transact; its outcome is unknown/);
    await server.startServer();
    await waitFor('back', async () => (client.connected ? true : undefined), 10_000, 10);
    expect(client.cache.findOne('Logical_Switch', (s) => s.name === 'in-flight')).toBeUndefined();
  });

  it('gives up connecting to a hung server in time, without leaving the session behind', async () => {
    process.kill(server.pid!, 'SIGSTOP');
    try {
      const started = Date.now();
      // The socket connects (the kernel accepts it) but get_schema never gets an answer.
      const err = await OvsdbClient.connect({
        model: nb.model,
        remotes: server.remote,
        waitForConnectionMs: 300,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotConnectedError);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
  });

  it('rebuilds from scratch when an update does not fit the cache', async () => {
    await server.nbctl('ls-add', 'victim');
    const victim = await waitFor(
      'victim cached',
      async () => client.cache.findOne('Logical_Switch', (s) => s.name === 'victim'),
      5_000,
      10,
    );
    // Simulate a cache that lost a row (a bug, or a missed update): the server's next modify of it
    // cannot be applied, so the client must drop the session and take a full copy.
    const columns = new Map([
      ['Logical_Switch', new Map(Object.entries(client.schema!.tables.Logical_Switch!.columns))],
    ]);
    client.cache.apply(columns, { Logical_Switch: { [victim._uuid]: { delete: null } } });
    expect(client.cache.get('Logical_Switch', victim._uuid)).toBeUndefined();

    const before = resyncs.length;
    const reason = new Promise<Error | undefined>((r) => client.once('disconnected', r));
    await server.nbctl('set', 'Logical_Switch', 'victim', 'external_ids:touched=yes');
    expect((await reason)?.name).toBe('CacheInconsistentError');
    await waitFor('resync', async () => (resyncs.length > before ? true : undefined), 10_000, 10);
    expect(resyncs.at(-1)!.resumed).toBe(false);
    expect(client.cache.get('Logical_Switch', victim._uuid)?.external_ids).toEqual({ touched: 'yes' });
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(await serverSwitches());
  });
});

describe('OvsdbClient across an online schema upgrade', () => {
  let server: StandaloneServer;
  let client: OvsdbClient<nb.Tables>;

  beforeAll(async () => {
    // An "older" NB schema: Logical_Switch without other_config.
    const schema = JSON.parse(readFileSync(NB_SCHEMA, 'utf8')) as {
      version: string;
      tables: Record<string, { columns: Record<string, unknown> }>;
    };
    delete schema.tables.Logical_Switch!.columns.other_config;
    schema.version = '6.9.0';
    const dir = mkdtempSync(join(tmpdir(), 'capk-podnet-schema-'));
    const older = join(dir, 'older.ovsschema');
    writeFileSync(older, JSON.stringify(schema));
    server = await StandaloneServer.start({ schema: older });
    rmSync(dir, { recursive: true, force: true });
    client = await OvsdbClient.connect({
      model: nb.model,
      remotes: server.remote,
      tables: ['Logical_Switch'],
      backoff: { initialMs: 20, maxMs: 200 },
    });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it('monitors only the columns the older server has, then picks up the new ones after conversion', async () => {
    await server.nbctl('ls-add', 'old-sw');
    expect(client.schema!.tables.Logical_Switch!.columns.other_config).toBeUndefined();
    const sw = client.cache.findOne('Logical_Switch', (s) => s.name === 'old-sw')!;
    expect('other_config' in sw).toBe(false);

    const resynced = new Promise<Resync>((r) => client.once('resynced', r));
    await server.convert(NB_SCHEMA);
    // ovsdb-server drops sessions that did not declare themselves schema-change aware.
    await resynced;
    expect(client.schema!.version).toBe(nb.NB_SCHEMA_VERSION);
    expect(client.cache.get('Logical_Switch', sw._uuid)!.other_config).toEqual({});
    await server.nbctl('set', 'Logical_Switch', 'old-sw', 'other_config:mcast_snoop=true');
    await waitFor(
      'new column in cache',
      async () => client.cache.get('Logical_Switch', sw._uuid)!.other_config.mcast_snoop,
      5_000,
      10,
    );
    // ovn-nbctl's IDL keeps the schema it first saw here, so compare with a plain ovsdb-client query.
    const onServer = await selectViaOvsdbClient(server.remote, client.schema!, 'Logical_Switch');
    expect(onServer.get(sw._uuid)!.other_config).toEqual({ mcast_snoop: 'true' });
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(normalise(onServer.values()));
  });
});
