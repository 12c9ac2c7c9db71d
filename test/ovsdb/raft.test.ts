// A real 3-member RAFT northbound cluster: given all members, the client settles on the leader,
// and when the leader dies it moves to the new one and resumes its cache with monitor_cond_since
// (the cluster keeps transaction history) instead of refetching everything.
import { OvsdbClient, nb } from '../../src/ovsdb/index.js';
import type { Resync } from '../../src/ovsdb/index.js';
import { waitFor } from '../env/processes.js';
import { RaftCluster } from './servers.js';
import { listViaNbctl, normalise } from './compare.js';

describe('OvsdbClient with a RAFT cluster', () => {
  let cluster: RaftCluster;
  let client: OvsdbClient<nb.Tables>;
  const resyncs: Resync[] = [];

  beforeAll(async () => {
    cluster = await RaftCluster.start(3);
  });
  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it('connects to the leader even when a follower is listed first', async () => {
    const leader = (await cluster.leader())!;
    const order = [1, 2, 0].map((i) => (leader + i) % 3); // followers first
    client = await OvsdbClient.connect({
      model: nb.model,
      remotes: order.map((i) => cluster.remote(i)).join(','),
      tables: ['Logical_Switch'],
      backoff: { initialMs: 50, maxMs: 500 },
    });
    client.on('resynced', (r) => resyncs.push(r));
    expect(client.remote).toBe(cluster.remote(leader));
    const [r] = await client.transact([client.ops.insert('Logical_Switch', { name: 'before-failover' })]);
    expect(
      (
        await cluster.nbctl('--bare', '--columns=_uuid', 'find', 'Logical_Switch', 'name=before-failover')
      ).trim(),
    ).toBe(r!.uuid);
  });

  it('follows the leadership to another member and resumes from the last transaction', async () => {
    const oldLeader = (await cluster.leader())!;
    for (let i = 0; i < 5; i++) await cluster.nbctl('ls-add', `pre-${i}`);
    await waitFor(
      'pre rows cached',
      async () => (client.cache.size('Logical_Switch') === 6 ? true : undefined),
      5_000,
      10,
    );

    const before = resyncs.length;
    await cluster.stopMember(oldLeader);
    const newLeader = await waitFor('a new leader', async () => cluster.leader(), 20_000, 100);
    expect(newLeader).not.toBe(oldLeader);
    await waitFor(
      'client resync on the new leader',
      async () => (resyncs.length > before ? true : undefined),
      20_000,
      20,
    );
    const resync = resyncs.at(-1)!;
    expect(resync.remote).toBe(cluster.remote(newLeader));
    expect(resync.resumed).toBe(true);

    await cluster.nbctl('ls-add', 'after-failover');
    const [r] = await client.transact([
      client.ops.insert('Logical_Switch', { name: 'written-to-new-leader' }),
    ]);
    await waitFor(
      'both new rows cached',
      async () =>
        client.cache.get('Logical_Switch', r!.uuid!) &&
        client.cache.findOne('Logical_Switch', (s) => s.name === 'after-failover'),
      5_000,
      10,
    );
    const server = await listViaNbctl((...a) => cluster.nbctl(...a), client.schema!, 'Logical_Switch');
    expect(normalise(client.cache.list('Logical_Switch'))).toEqual(normalise(server.values()));
    expect(client.cache.size('Logical_Switch')).toBe(8);
  });

  it('resumes a follower session with only the changes made while it was away', async () => {
    // Back to three members, so that the cluster keeps its quorum while one follower is away.
    for (const [i, m] of cluster.members.entries()) if (!m.daemon) await cluster.startMember(i);
    const leader = (await cluster.leader())!;
    const follower = [0, 1, 2].find((i) => i !== leader)!;
    const reader = await OvsdbClient.connect({
      model: nb.model,
      remotes: cluster.remote(follower),
      tables: ['Logical_Switch'],
      backoff: { initialMs: 50, maxMs: 300 },
    });
    const readerResyncs: Resync[] = [];
    reader.on('resynced', (r) => readerResyncs.push(r));
    try {
      await cluster.stopMember(follower);
      await waitFor('reader to notice', async () => (reader.connected ? undefined : true), 5_000, 10);
      await cluster.nbctl('ls-add', 'while-away', '--', 'ls-del', 'pre-0');
      await cluster.startMember(follower);
      await waitFor('reader resync', async () => (readerResyncs.length ? true : undefined), 20_000, 20);
      expect(readerResyncs[0]).toEqual({ remote: cluster.remote(follower), resumed: true });
      await waitFor(
        'rows written while away',
        async () => reader.cache.findOne('Logical_Switch', (s) => s.name === 'while-away'),
        5_000,
        10,
      );
      const server = await listViaNbctl((...a) => cluster.nbctl(...a), reader.schema!, 'Logical_Switch');
      expect(normalise(reader.cache.list('Logical_Switch'))).toEqual(normalise(server.values()));
      expect(reader.cache.findOne('Logical_Switch', (s) => s.name === 'pre-0')).toBeUndefined();
    } finally {
      await reader.close();
    }
  });

  it('leaves a member that stops being leader while staying up (told by _Server)', async () => {
    const leader = await waitFor(
      'client on the leader',
      async () => {
        const l = await cluster.leader();
        return l !== undefined && client.remote === cluster.remote(l) ? l : undefined;
      },
      20_000,
      50,
    );
    const before = resyncs.length;
    const disconnected = new Promise<Error | undefined>((r) => client.once('disconnected', r));
    const newLeader = await cluster.transferLeadership();
    expect((await disconnected)?.message).toMatch(/not the cluster leader/);
    await waitFor(
      'client resync on the new leader',
      async () => (resyncs.length > before ? true : undefined),
      20_000,
      20,
    );
    expect(cluster.members[leader]!.daemon).toBeDefined(); // the old leader never went away
    expect(resyncs.at(-1)).toEqual({ remote: cluster.remote(newLeader), resumed: true });
    const [r] = await client.transact([client.ops.insert('Logical_Switch', { name: 'after-transfer' })]);
    expect(client.cache.get('Logical_Switch', r!.uuid!)?.name).toBe('after-transfer');
  });
});
