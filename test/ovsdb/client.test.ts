// The client against a real ovsdb-server (OVN NB schema): RPC methods, every transact operation,
// typed errors, and a monitored cache that follows writes made by ovn-nbctl.
import {
  OvsdbClient,
  OvsdbCommitError,
  OvsdbOperationError,
  insertedUuids,
  byUuid,
  nb,
} from '../../src/ovsdb/index.js';
import type { RowChange } from '../../src/ovsdb/index.js';
import { waitFor } from '../env/processes.js';
import { StandaloneServer } from './servers.js';
import { listViaNbctl, normalise } from './compare.js';

type NbClient = OvsdbClient<nb.Tables>;

describe('OvsdbClient against ovsdb-server', () => {
  let server: StandaloneServer;
  let client: NbClient;

  beforeAll(async () => {
    server = await StandaloneServer.start();
    client = await OvsdbClient.connect({
      model: nb.model,
      remotes: server.remote,
      tables: ['Logical_Switch', 'Logical_Switch_Port', 'ACL', 'NB_Global'],
      indexes: { Logical_Switch_Port: ['capk-podnet/machine'] },
    });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  /** Waits until the cache holds what ovn-nbctl reads from the server for this table. */
  async function expectCacheMatchesServer(
    table: 'Logical_Switch' | 'Logical_Switch_Port' | 'ACL',
  ): Promise<void> {
    const schema = client.schema!;
    let server_: Record<string, unknown> = {};
    await waitFor(
      `${table} cache to match the server`,
      async () => {
        server_ = normalise((await listViaNbctl((...a) => server.nbctl(...a), schema, table)).values());
        return JSON.stringify(normalise(client.cache.list(table))) === JSON.stringify(server_)
          ? true
          : undefined;
      },
      5_000,
      20,
    ).catch(() => undefined);
    expect(normalise(client.cache.list(table))).toEqual(server_);
  }

  it('lists databases, fetches the schema, and echoes', async () => {
    expect((await client.listDbs()).sort()).toEqual(['OVN_Northbound', '_Server']);
    const schema = await client.getSchema();
    expect(schema.name).toBe(nb.NB_DATABASE);
    expect(schema.version).toBe(nb.NB_SCHEMA_VERSION);
    expect(schema.tables.Logical_Switch_Port?.columns.addresses).toEqual({
      key: { type: 'string' },
      min: 0,
      max: Infinity,
    });
    expect(await client.echo('ping', 7)).toEqual(['ping', 7]);
  });

  it('inserts rows that reference each other by named uuid in one transaction', async () => {
    const ops = [
      client.ops.insert(
        'Logical_Switch_Port',
        { name: 'p1', addresses: ['02:00:00:00:00:01 10.0.0.11'] },
        'port',
      ),
      client.ops.insert(
        'Logical_Switch',
        { name: 'sw1', ports: ['port'], external_ids: { owner: 'a' } },
        'sw',
      ),
      client.ops.comment('capk-podnet test: named uuids'),
    ];
    const results = await client.transact(ops);
    const uuids = insertedUuids(ops, results);
    expect(Object.keys(uuids).sort()).toEqual(['port', 'sw']);
    // The server resolved the reference: ovn-nbctl sees the port on the switch.
    expect((await server.nbctl('--bare', '--columns=ports', 'list', 'Logical_Switch', 'sw1')).trim()).toBe(
      uuids.port,
    );
    // Read-your-writes: ovsdb-server flushes monitor updates before it sends any reply on a session.
    expect(client.cache.get('Logical_Switch', uuids.sw!)).toMatchObject({ name: 'sw1', ports: [uuids.port] });
    await expectCacheMatchesServer('Logical_Switch_Port');
  });

  it('selects, updates, mutates sets and maps, and deletes', async () => {
    await server.nbctl('ls-add', 'sw2', '--', 'lsp-add', 'sw2', 'p2');
    const [sel] = await client.transact([client.ops.select('Logical_Switch_Port', [['name', '==', 'p2']])]);
    expect(sel!.rows).toHaveLength(1);
    const p2 = sel!.rows![0]!._uuid as string;
    expect(sel!.rows![0]).toMatchObject({ name: 'p2', addresses: [], tag: [], external_ids: {} });

    const [upd] = await client.transact([
      client.ops.update('Logical_Switch_Port', [byUuid(p2)], {
        addresses: ['02:00:00:00:00:02 10.0.0.12'],
        tag_request: [5],
      }),
    ]);
    expect(upd!.count).toBe(1);
    await client.transact([
      client.ops.mutate(
        'Logical_Switch_Port',
        [byUuid(p2)],
        [
          ['addresses', 'insert', ['router']],
          ['port_security', 'insert', '02:00:00:00:00:02'],
        ],
      ),
      client.ops.setMapKeys('Logical_Switch_Port', [byUuid(p2)], 'external_ids', { a: '1', b: '2' }),
      client.ops.setMapKeys('Logical_Switch_Port', [byUuid(p2)], 'external_ids', { b: '3' }),
    ]);
    const get = async (col: string) => (await server.nbctl('get', 'Logical_Switch_Port', p2, col)).trim();
    expect(await get('addresses')).toBe('["02:00:00:00:00:02 10.0.0.12", router]');
    expect(await get('external_ids')).toBe('{a="1", b="3"}');
    expect(await get('tag_request')).toBe('5');

    await client.transact([
      client.ops.mutate(
        'Logical_Switch_Port',
        [byUuid(p2)],
        [
          ['addresses', 'delete', ['router']],
          ['external_ids', 'delete', ['a']],
          ['tag_request', '+=', 2],
        ],
      ),
    ]);
    expect(await get('addresses')).toBe('["02:00:00:00:00:02 10.0.0.12"]');
    expect(await get('external_ids')).toBe('{b="3"}');
    expect(await get('tag_request')).toBe('7');
    await expectCacheMatchesServer('Logical_Switch_Port');

    const sw2 = client.cache.findOne('Logical_Switch', (s) => s.name === 'sw2')!;
    const [del] = await client.transact([
      client.ops.mutate('Logical_Switch', [byUuid(sw2._uuid)], [['ports', 'delete', [p2]]]),
      client.ops.delete('Logical_Switch', [['name', '==', 'sw2']]),
    ]);
    expect(del).toBeDefined();
    expect(await server.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=sw2')).toBe('');
    await waitFor(
      'sw2 gone from cache',
      async () => (client.cache.get('Logical_Switch', sw2._uuid) ? undefined : true),
      5_000,
      10,
    );
    await expectCacheMatchesServer('Logical_Switch');
  });

  it('waits: passes when the rows match, fails naming the wait op when they do not in time', async () => {
    await server.nbctl('ls-add', 'sw3');
    const holds = client.ops.wait('Logical_Switch', [['name', '==', 'sw3']], {
      columns: ['name'],
      until: '==',
      rows: [{ name: 'sw3' }],
      timeoutMs: 0,
    });
    await expect(client.transact([holds, client.ops.comment('ok')])).resolves.toHaveLength(2);

    const started = Date.now();
    const never = client.ops.wait('Logical_Switch', [['name', '==', 'sw3']], {
      columns: ['name'],
      until: '==',
      rows: [{ name: 'other' }],
      timeoutMs: 200,
    });
    const err = await client.transact([client.ops.comment('first'), never]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvsdbOperationError);
    const e = err as OvsdbOperationError;
    expect(e.index).toBe(1);
    expect(e.op.op).toBe('wait');
    expect(e.table).toBe('Logical_Switch');
    expect(e.error).toBe('timed out');
    expect(e.message).toMatch(/operation 1 \(wait on Logical_Switch where .*sw3.*\) failed: timed out/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
  });

  it('names the table of a failed operation and leaves the database untouched', async () => {
    const ops = [
      client.ops.insert('Logical_Switch', { name: 'never-committed' }),
      client.ops.insert('ACL', {
        action: 'bogus' as 'drop',
        direction: 'to-lport',
        match: 'ip4',
        priority: 1,
      }),
    ];
    const err = await client.transact(ops).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvsdbOperationError);
    expect((err as OvsdbOperationError).index).toBe(1);
    expect((err as OvsdbOperationError).table).toBe('ACL');
    expect((err as OvsdbOperationError).error).toBe('constraint violation');
    expect((err as OvsdbOperationError).details).toContain('bogus');
    expect(
      await server.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=never-committed'),
    ).toBe('');

    const aborted = await client
      .transact([client.ops.insert('Logical_Switch', { name: 'x' }), client.ops.abort()])
      .catch((e: unknown) => e);
    expect((aborted as OvsdbOperationError).error).toBe('aborted');
    expect((aborted as OvsdbOperationError).index).toBe(1);
    const notOwner = await client.transact([client.ops.assert('some_lock')]).catch((e: unknown) => e);
    expect((notOwner as OvsdbOperationError).error).toBe('not owner');
  });

  it('reports a commit failure (referential integrity) as OvsdbCommitError', async () => {
    const dangling = '11111111-2222-3333-4444-555555555555';
    const err = await client
      .transact([
        client.ops.insert('Logical_Switch', { name: 'dangling', ports: [dangling] }),
        client.ops.commit(false),
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvsdbCommitError);
    expect((err as OvsdbCommitError).error).toBe('referential integrity violation');
    expect((err as OvsdbCommitError).details).toContain(dangling);
  });

  it('follows inserts, updates and deletes by another writer, with update2 set and map diffs', async () => {
    const changes: RowChange<nb.Tables>[] = [];
    const onChange = (c: RowChange<nb.Tables>[]) => changes.push(...c);
    client.on('change', onChange);
    try {
      await server.nbctl(
        'ls-add',
        'sw4',
        '--',
        'lsp-add',
        'sw4',
        'p4',
        '--',
        'set',
        'Logical_Switch_Port',
        'p4',
        'addresses=a,b,c',
      );
      await server.nbctl(
        'set',
        'Logical_Switch_Port',
        'p4',
        'external_ids:keep=1',
        'external_ids:change=old',
        'external_ids:drop=x',
        'external_ids:capk-podnet/machine=ns/m4',
      );
      await expectCacheMatchesServer('Logical_Switch_Port');
      const p4 = client.cache.findOne('Logical_Switch_Port', (p) => p.name === 'p4')!;
      expect(
        client.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', 'ns/m4').map((p) => p.name),
      ).toEqual(['p4']);

      // One modify that adds, replaces and removes map keys and toggles set members both ways.
      await server.nbctl(
        '--',
        'set',
        'Logical_Switch_Port',
        'p4',
        'external_ids:change=new',
        'external_ids:add=y',
        'addresses=b,d',
        '--',
        'remove',
        'Logical_Switch_Port',
        'p4',
        'external_ids',
        'drop',
        '--',
        'set',
        'Logical_Switch_Port',
        'p4',
        'external_ids:capk-podnet/machine=ns/m5',
        'tag_request=9',
      );
      await waitFor(
        'modified p4',
        async () =>
          client.cache.get('Logical_Switch_Port', p4._uuid)?.tag_request[0] === 9 ? true : undefined,
        5_000,
        10,
      );
      const after = client.cache.get('Logical_Switch_Port', p4._uuid)!;
      expect(after.external_ids).toEqual({
        keep: '1',
        change: 'new',
        add: 'y',
        'capk-podnet/machine': 'ns/m5',
      });
      expect([...after.addresses].sort()).toEqual(['b', 'd']);
      expect(p4.addresses).toEqual(['a', 'b', 'c']); // the row held before is a snapshot
      expect(client.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', 'ns/m4')).toEqual([]);
      expect(
        client.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', 'ns/m5').map((p) => p._uuid),
      ).toEqual([p4._uuid]);
      await expectCacheMatchesServer('Logical_Switch_Port');

      await server.nbctl('lsp-del', 'p4', '--', 'ls-del', 'sw4');
      await waitFor(
        'p4 deleted',
        async () => (client.cache.get('Logical_Switch_Port', p4._uuid) ? undefined : true),
        5_000,
        10,
      );
      expect(client.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', 'ns/m5')).toEqual([]);
      const p4Changes = changes.filter((c) => c.uuid === p4._uuid);
      expect(p4Changes[0]).toMatchObject({ table: 'Logical_Switch_Port', new: { name: 'p4' } });
      expect(p4Changes[0]!.old).toBeUndefined();
      expect(p4Changes.at(-1)!.new).toBeUndefined();
      expect(p4Changes.at(-1)!.old).toMatchObject({ name: 'p4' });
    } finally {
      client.off('change', onChange);
    }
  });

  it('changes the monitored tables with monitor_cancel and a fresh monitor', async () => {
    await server.nbctl('create', 'Address_Set', 'name=as1', 'addresses=10.0.0.1');
    const c = await OvsdbClient.connect({
      model: nb.model,
      remotes: server.remote,
      tables: ['Logical_Switch'],
    });
    try {
      const switches = c.cache.size('Logical_Switch');
      expect(switches).toBeGreaterThan(0);
      expect(c.cache.list('Address_Set')).toEqual([]);
      const resynced = new Promise((r) => c.once('resynced', r));

      await c.setTables(['Logical_Switch', 'Address_Set']);
      expect(await resynced).toEqual({ remote: server.remote, resumed: false });
      expect(c.cache.list('Address_Set').map((a) => [a.name, a.addresses])).toEqual([['as1', ['10.0.0.1']]]);
      expect(c.cache.size('Logical_Switch')).toBe(switches);

      await c.setTables(['Address_Set']);
      expect(c.cache.size('Logical_Switch')).toBe(0);
      // One transaction touching both tables: only the still-monitored one reaches the cache.
      await server.nbctl('ls-add', 'unwatched', '--', 'create', 'Address_Set', 'name=as2');
      await waitFor(
        'as2 cached',
        async () => c.cache.findOne('Address_Set', (a) => a.name === 'as2'),
        5_000,
        10,
      );
      expect(c.cache.size('Logical_Switch')).toBe(0);
    } finally {
      await c.close();
    }
  });

  it('monitors only rows matching a condition; rows enter and leave the cache as they match', async () => {
    const mark = { 'capk-podnet/kind': 'port' };
    const c = await OvsdbClient.connect({
      model: nb.model,
      remotes: server.remote,
      tables: ['Logical_Switch_Port'],
      conditions: { Logical_Switch_Port: [['external_ids', 'includes', mark]] },
    });
    try {
      const names = () =>
        c.cache
          .list('Logical_Switch_Port')
          .map((p) => p.name)
          .sort();
      await server.nbctl('ls-add', 'sw6', '--', 'lsp-add', 'sw6', 'ours', '--', 'lsp-add', 'sw6', 'theirs');
      await server.nbctl('set', 'Logical_Switch_Port', 'ours', 'external_ids:capk-podnet/kind=port');
      await waitFor('ours cached', async () => (names().includes('ours') ? true : undefined), 5_000, 10);
      expect(names()).toEqual(['ours']);

      await server.nbctl('set', 'Logical_Switch_Port', 'theirs', 'external_ids:capk-podnet/kind=port');
      await waitFor('theirs enters', async () => (names().includes('theirs') ? true : undefined), 5_000, 10);
      await server.nbctl('remove', 'Logical_Switch_Port', 'ours', 'external_ids', 'capk-podnet/kind');
      await waitFor('ours leaves', async () => (names().includes('ours') ? undefined : true), 5_000, 10);
      expect(names()).toEqual(['theirs']);

      // Clauses are alternatives: either name matches.
      await c.setTables(['Logical_Switch_Port'], {
        Logical_Switch_Port: [
          ['name', '==', 'ours'],
          ['name', '==', 'p1'],
        ],
      });
      expect(names()).toEqual(['ours', 'p1']);
    } finally {
      await c.close();
    }
  });
});
