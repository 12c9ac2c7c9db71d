// The driver's sync against a real NB ovsdb-server: idempotent, restart-safe, restores what is
// changed behind its back, collects its orphans, never touches rows it does not own, converges
// after an NB restart in the middle of a sync, and names the operation of a failed transaction.
import { OvnCentral } from '../env/ovn-central.js';
import { waitFor } from '../env/processes.js';
import { OvnDriver, OvnSyncError } from '../../src/network/ovn/index.js';
import { OvsdbOperationError } from '../../src/ovsdb/index.js';
import type { ObjectRef, VmNetworkSpec } from '../../src/network/driver.js';
import { buildTopology, GATEWAY } from './topology.js';

const TABLES = [
  'Logical_Switch',
  'Logical_Switch_Port',
  'Logical_Router',
  'Logical_Router_Port',
  'Logical_Router_Static_Route',
  'Logical_Router_Policy',
  'DHCP_Options',
  'Static_MAC_Binding',
];

const clusterA = { namespace: 'tenant-a', name: 'cluster-a' };
const clusterB = { namespace: 'tenant-b', name: 'cluster-b' };

function vm(cluster: ObjectRef, i: number, node: string): VmNetworkSpec {
  return {
    cluster,
    machine: { namespace: cluster.namespace, name: `worker-${i}` },
    ipv4: `10.244.${cluster === clusterA ? 100 : 101}.${10 + i}`,
    prefixLength: 24,
    mac: `02:00:0a:f4:${cluster === clusterA ? '64' : '65'}:${(10 + i).toString(16).padStart(2, '0')}`,
    hostname: `worker-${i}`,
    gateway: GATEWAY,
    mtu: 1400,
    dnsServers: ['10.96.0.10'],
    placement: { kind: 'node', node },
  };
}

type Rows = Record<string, unknown>[];

function vmsOf(cluster: ObjectRef, first: number, n: number): ObjectRef[] {
  return Array.from({ length: n }, (_, i) => ({ namespace: cluster.namespace, name: `worker-${first + i}` }));
}

describe('OVN driver: sync against a real NB', () => {
  let ovn: OvnCentral;
  let driver: OvnDriver;
  const specs = [
    vm(clusterA, 0, 'node-a'),
    vm(clusterA, 1, 'node-b'),
    vm(clusterA, 2, 'node-c'),
    vm(clusterB, 0, 'node-a'),
  ];

  beforeAll(async () => {
    ovn = await OvnCentral.start({ northd: false });
    await buildTopology(ovn, ['node-a', 'node-b', 'node-c']);
    driver = await started();
  });
  afterAll(async () => {
    await driver?.stop();
    await ovn?.stop();
  });

  async function started(opts: Partial<ConstructorParameters<typeof OvnDriver>[0]> = {}): Promise<OvnDriver> {
    const d = new OvnDriver({ nbRemotes: ovn.nbRemote, backoff: { initialMs: 20, maxMs: 200 }, ...opts });
    await d.start();
    return d;
  }

  async function list(table: string): Promise<Rows> {
    const out = JSON.parse(await ovn.nbctl('--format=json', 'list', table)) as {
      headings: string[];
      data: unknown[][];
    };
    return out.data
      .map((r) => Object.fromEntries(out.headings.map((h, i) => [h, r[i]])))
      .sort((x, y) => JSON.stringify(x._uuid).localeCompare(JSON.stringify(y._uuid)));
  }
  /** Every row of every table the driver reads or writes, uuids included. */
  async function dump(): Promise<Record<string, Rows>> {
    return Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t, await list(t)] as const)));
  }
  const ids = (r: Record<string, unknown>) =>
    Object.fromEntries((r.external_ids as ['map', [string, string][]])[1]);
  async function owned(table: string, key: string, value: string): Promise<Rows> {
    return (await list(table)).filter((r) => ids(r)[key] === value);
  }

  async function ensureAll(d: OvnDriver, all = specs) {
    const before = d.stats.transactions;
    const calledAt = Date.now();
    const obs = await Promise.all(all.map((s) => d.ensureVm(s)));
    return { obs, transactions: d.stats.transactions - before, calledAt, returnedAt: Date.now() };
  }

  it('creates each VM in one transaction, and a second sync changes nothing', async () => {
    // Node gateways are set up once per node, not per VM.
    await driver.ensureGateways(['node-a', 'node-b', 'node-c'], GATEWAY);
    const first = await ensureAll(driver);
    expect(first.transactions).toBe(specs.length);
    expect(first.obs.every((o) => o.programmed)).toBe(true);
    // Each call that wrote says when its write was committed; one that wrote nothing, nothing.
    for (const o of first.obs) {
      expect(o.committedAtMs).toBeGreaterThanOrEqual(first.calledAt);
      expect(o.committedAtMs).toBeLessThanOrEqual(first.returnedAt);
    }
    expect(await owned('Logical_Switch_Port', 'capk-podnet/kind', 'port')).toHaveLength(specs.length);
    expect(await owned('DHCP_Options', 'capk-podnet/kind', 'dhcp')).toHaveLength(specs.length);
    expect(await owned('Logical_Router_Static_Route', 'capk-podnet/kind', 'route')).toHaveLength(
      specs.length,
    );
    expect(await owned('Logical_Router_Policy', 'capk-podnet/kind', 'policy')).toHaveLength(specs.length);
    // One pool egress route per tenant cluster.
    expect(await owned('Logical_Router_Static_Route', 'capk-podnet/kind', 'egress')).toHaveLength(2);

    expect(await driver.observe(specs[1]!.machine)).toEqual({
      programmed: true,
      portNodes: ['node-b'],
      routedTo: 'node-b',
    });
    const before = await dump();
    const again = await ensureAll(driver);
    expect(again.transactions).toBe(0);
    expect(again.obs.map((o) => o.committedAtMs)).toEqual(specs.map(() => undefined));
    expect(await dump()).toEqual(before);
  });

  it('a fresh process after a restart changes nothing', async () => {
    const before = await dump();
    const fresh = await started();
    try {
      const r = await ensureAll(fresh);
      expect(r.transactions).toBe(0);
      expect(r.obs.map((o) => o.routedTo)).toEqual(specs.map((s) => (s.placement as { node: string }).node));
      expect(await fresh.sweep(new Set(specs.map((s) => `${s.machine.namespace}/${s.machine.name}`)))).toBe(
        0,
      );
    } finally {
      await fresh.stop();
    }
    expect(await dump()).toEqual(before);
  });

  it('restores rows deleted or altered behind its back, by itself', async () => {
    const before = await dump();
    const restoresBefore = driver.stats.restores;
    const port = 'capk_tenant-a_worker-0_node-a';
    const route = (
      await owned('Logical_Router_Static_Route', 'capk-podnet/machine', 'tenant-a/worker-1')
    )[0]!;
    const dhcp = (await owned('DHCP_Options', 'capk-podnet/machine', 'tenant-a/worker-2'))[0]!;
    await ovn.nbctl('lsp-del', port);
    await ovn.nbctl(
      'set',
      'Logical_Router_Static_Route',
      (route._uuid as string[])[1]!,
      'output_port=rtos-node-c',
    );
    await ovn.nbctl('set', 'DHCP_Options', (dhcp._uuid as string[])[1]!, 'options:mtu=9000');
    await ovn.nbctl('static-mac-binding-del', 'rtos-node-a', '10.244.101.10');

    const restored = await waitFor(
      'rows restored',
      async () => {
        const now = await dump();
        const names = now.Logical_Switch_Port!.map((p) => p.name);
        const r = now.Logical_Router_Static_Route!.find(
          (x) => JSON.stringify(x._uuid) === JSON.stringify(route._uuid),
        );
        const d = now.DHCP_Options!.find((x) => JSON.stringify(x._uuid) === JSON.stringify(dhcp._uuid));
        const smb = now.Static_MAC_Binding!.some(
          (b) => b.ip === '10.244.101.10' && b.logical_port === 'rtos-node-a',
        );
        const ok =
          names.includes(port) &&
          JSON.stringify(r?.output_port) === JSON.stringify('rtos-node-b') &&
          JSON.stringify(d?.options).includes('"mtu","1400"') &&
          smb;
        return ok ? now : undefined;
      },
      5_000,
      50,
    );
    expect(driver.stats.restores).toBeGreaterThan(restoresBefore);
    // Only the deleted rows were recreated; everything else kept its uuid.
    const lsp = (d: Record<string, Rows>) => d.Logical_Switch_Port!.filter((p) => p.name !== port);
    expect(lsp(restored)).toEqual(lsp(before));
    expect(restored.Logical_Router_Policy).toEqual(before.Logical_Router_Policy);
  });

  it("removes a per-VM allow policy an earlier version left, the pool's own policy serving instead", async () => {
    const legacy = [
      'external_ids:capk-podnet/owner=tenant-a/cluster-a',
      'external_ids:capk-podnet/machine=tenant-a/worker-0',
      'external_ids:capk-podnet/kind=direct',
    ];
    await ovn.nbctl(
      '--id=@p',
      'create',
      'Logical_Router_Policy',
      'priority=1006',
      'match="ip4.src == 10.244.100.10 && ip4.dst == {10.244.100.0/24}"',
      'action=allow',
      ...legacy,
      '--',
      'add',
      'Logical_Router',
      'ovn_cluster_router',
      'policies',
      '@p',
    );
    // The driver sees a row of worker-0's change and restores worker-0: without the row.
    await waitFor(
      'the per-VM allow policy removed',
      async () =>
        (await owned('Logical_Router_Policy', 'capk-podnet/kind', 'direct')).length === 0 ? true : undefined,
      5_000,
      50,
    );
    expect(await owned('Logical_Router_Policy', 'capk-podnet/kind', 'pool-allow')).toHaveLength(2);
  });

  it('puts the gateway back when it is reverted on the node switch and router port', async () => {
    const get = async () => [
      (await ovn.nbctl('get', 'Logical_Switch_Port', 'stor-node-b', 'options:arp_proxy')).trim(),
      (await ovn.nbctl('get', 'Logical_Router_Port', 'rtos-node-b', 'mac')).trim(),
    ];
    const before = await get();
    expect(before).toEqual([`"${GATEWAY.ipv4}"`, `"${GATEWAY.mac}"`]);
    await ovn.nbctl('remove', 'Logical_Switch_Port', 'stor-node-b', 'options', 'arp_proxy');
    await ovn.nbctl('set', 'Logical_Router_Port', 'rtos-node-b', 'mac="0a:58:0a:f4:02:01"');
    await waitFor(
      'gateway restored',
      async () => (JSON.stringify(await get()) === JSON.stringify(before) ? true : undefined),
      5_000,
      50,
    );
    // The MAC it replaced is still the one OVN-K had, not the one it put back.
    expect(await ovn.nbctl('get', 'Logical_Router_Port', 'rtos-node-b', 'external_ids')).toContain(
      '"capk-podnet/gateway-original-mac"="0a:58:0a:f4:02:01"',
    );
  });

  it('never changes or deletes rows it does not own', async () => {
    await ovn.nbctl(
      '--',
      'lsp-add',
      'node-a',
      'foreign-pod',
      '--',
      'lsp-set-addresses',
      'foreign-pod',
      '0a:58:0a:f4:01:33 10.244.1.33',
      '--',
      'set',
      'Logical_Switch_Port',
      'foreign-pod',
      'external_ids:k8s.ovn.org/owner-type=pod',
      '--',
      '--policy=dst-ip',
      'lr-route-add',
      'ovn_cluster_router',
      '10.244.1.33/32',
      '10.244.1.33',
      'rtos-node-a',
      '--',
      'lr-policy-add',
      'ovn_cluster_router',
      '10',
      'ip4.src == 10.244.1.33',
      'reroute',
      '100.64.0.2',
      '--',
      'static-mac-binding-add',
      'rtos-node-b',
      '10.244.1.33',
      '0a:58:0a:f4:01:33',
    );
    await ovn.nbctl('create', 'DHCP_Options', 'cidr=10.244.1.0/24', 'external_ids:capk-podnet/kind=dhcp');
    const foreign = async () => {
      const d = await dump();
      const notOurs = (rows: Rows) => rows.filter((r) => !('capk-podnet/owner' in ids(r)));
      return {
        ports: notOurs(d.Logical_Switch_Port!).filter((p) => p.type !== 'router'),
        dhcp: notOurs(d.DHCP_Options!),
        routes: notOurs(d.Logical_Router_Static_Route!),
        policies: notOurs(d.Logical_Router_Policy!),
        smb: d.Static_MAC_Binding!.filter((b) => b.ip === '10.244.1.33'),
      };
    };
    const before = await foreign();
    expect(before.ports.length).toBeGreaterThan(3);
    expect(before.dhcp).toHaveLength(1);

    await ensureAll(driver);
    await driver.removeVm(specs[0]!.machine);
    await driver.ensureVm(specs[0]!);
    expect(await foreign()).toEqual(before);
  });

  it('reports a foreign port that holds a VM port name, and writes nothing over it', async () => {
    const spec = vm(clusterA, 7, 'node-c');
    await ovn.nbctl('lsp-add', 'node-c', 'capk_tenant-a_worker-7_node-c');
    const obs = await driver.ensureVm(spec);
    expect(obs).toMatchObject({ programmed: false, reason: 'ForeignRowInTheWay' });
    expect(obs.message).toContain('capk_tenant-a_worker-7_node-c');
    const port = (await list('Logical_Switch_Port')).find((p) => p.name === 'capk_tenant-a_worker-7_node-c')!;
    expect(ids(port)).toEqual({});
    await ovn.nbctl('lsp-del', 'capk_tenant-a_worker-7_node-c');
    // The driver learns of the deletion from its monitor, a moment after ovn-nbctl returns; until
    // then it still reports the foreign row (a reconcile would simply try again).
    try {
      await waitFor(
        'the port free again',
        async () => ((await driver.ensureVm(spec)).programmed ? true : undefined),
        10_000,
      );
    } finally {
      await driver.removeVm(spec.machine);
    }
  });

  it('unscheduled drops the rows; an unknown node writes nothing and says why; removal is idempotent', async () => {
    const spec = vm(clusterA, 8, 'node-a');
    expect((await driver.ensureVm(spec)).programmed).toBe(true);
    const before = driver.stats.transactions;
    const gone = await driver.ensureVm({ ...spec, placement: { kind: 'unscheduled' } });
    expect(gone).toMatchObject({ programmed: false, reason: 'Unscheduled', portNodes: [] });
    expect(driver.stats.transactions - before).toBe(1);
    expect(await owned('DHCP_Options', 'capk-podnet/machine', 'tenant-a/worker-8')).toEqual([]);

    await driver.ensureVm(spec);
    const snapshot = await dump();
    const lost = await driver.ensureVm({
      ...spec,
      placement: {
        kind: 'migrating',
        source: 'node-a',
        target: 'node-z',
        phase: 'target-created',
        migrationId: 'z',
      },
    });
    expect(lost).toMatchObject({ programmed: false, reason: 'NodeSwitchMissing', routedTo: 'node-a' });
    expect(lost.message).toContain('node-z');
    expect(await dump()).toEqual(snapshot);

    await driver.removeVm(spec.machine);
    const after = driver.stats.transactions;
    await driver.removeVm(spec.machine);
    expect(driver.stats.transactions).toBe(after);
    expect(await owned('Logical_Switch_Port', 'capk-podnet/machine', 'tenant-a/worker-8')).toEqual([]);
  });

  it('collects orphans: a deleted machine, a deleted cluster, machines gone while it was down', async () => {
    await ensureAll(driver);
    await driver.removeVm(specs[0]!.machine);
    for (const t of [
      'Logical_Switch_Port',
      'DHCP_Options',
      'Logical_Router_Static_Route',
      'Logical_Router_Policy',
    ])
      expect(await owned(t, 'capk-podnet/machine', 'tenant-a/worker-0')).toEqual([]);
    expect((await list('Static_MAC_Binding')).filter((b) => b.ip === specs[0]!.ipv4)).toEqual([]);

    expect(await driver.removeCluster(clusterB)).toBeGreaterThanOrEqual(5);
    for (const t of [
      'Logical_Switch_Port',
      'DHCP_Options',
      'Logical_Router_Static_Route',
      'Logical_Router_Policy',
    ])
      expect(await owned(t, 'capk-podnet/owner', 'tenant-b/cluster-b')).toEqual([]);
    await driver.stop();

    // A new process that only knows worker-1 is alive: worker-2 goes, with cluster A's rows kept.
    driver = await started();
    const removed = await driver.sweep(new Set(['tenant-a/worker-1']));
    expect(removed).toBe(5); // port, neighbour, dhcp, route and policy of worker-2, nothing else
    expect(
      (await list('Logical_Switch_Port')).filter((p) => ids(p)['capk-podnet/owner']).map((p) => p.name),
    ).toEqual(['capk_tenant-a_worker-1_node-b']);
    expect(await owned('Logical_Router_Static_Route', 'capk-podnet/kind', 'egress')).toHaveLength(1);
    expect(await owned('Logical_Router_Policy', 'capk-podnet/kind', 'pool-allow')).toHaveLength(1);
    // The last machine of cluster A goes: so do its pool egress route and allow policy.
    expect(await driver.sweep(new Set())).toBeGreaterThan(0);
    expect(await owned('Logical_Router_Static_Route', 'capk-podnet/owner', 'tenant-a/cluster-a')).toEqual([]);
    expect(await owned('Logical_Router_Policy', 'capk-podnet/owner', 'tenant-a/cluster-a')).toEqual([]);
    expect(await driver.sweep(new Set())).toBe(0);
  });

  it('converges after the NB server restarts in the middle of a sync', async () => {
    const many = Array.from({ length: 30 }, (_, i) =>
      vm(clusterA, 20 + i, ['node-a', 'node-b', 'node-c'][i % 3]!),
    );
    const pending = Promise.all(many.map((s) => driver.ensureVm(s)));
    await ovn.restartNb(300);
    const obs = await pending;
    expect(obs.every((o) => o.programmed)).toBe(true);
    expect(driver.stats.resyncs).toBeGreaterThan(0);
    // Exactly the desired rows: no duplicate from a transaction whose reply was lost.
    await waitFor('driver connected', async () => (driver.nb.connected ? true : undefined), 5_000);
    const ours = async (t: string, kind: string) =>
      (await owned(t, 'capk-podnet/owner', 'tenant-a/cluster-a')).filter(
        (r) => ids(r)['capk-podnet/kind'] === kind,
      );
    expect(await ours('Logical_Switch_Port', 'port')).toHaveLength(30);
    expect(await ours('DHCP_Options', 'dhcp')).toHaveLength(30);
    expect(await ours('Logical_Router_Static_Route', 'route')).toHaveLength(30);
    expect(await ours('Logical_Router_Static_Route', 'egress')).toHaveLength(1);
    expect(await ours('Logical_Router_Policy', 'policy')).toHaveLength(30);
    expect(await ours('Logical_Router_Policy', 'pool-allow')).toHaveLength(1);
    expect(
      (await list('Static_MAC_Binding')).filter((b) => String(b.ip).startsWith('10.244.100.')),
    ).toHaveLength(30);
    const before = driver.stats.transactions;
    await Promise.all(many.map((s) => driver.ensureVm(s)));
    expect(driver.stats.transactions).toBe(before);
    await driver.sweep(new Set());
  });

  it('two writers racing on the same VMs: guards abort the loser, which re-diffs; no duplicates', async () => {
    const other = await started();
    try {
      const racing = Array.from({ length: 10 }, (_, i) => vm(clusterB, 30 + i, ['node-a', 'node-b'][i % 2]!));
      const retriesBefore = driver.stats.conflictRetries + other.stats.conflictRetries;
      const obs = await Promise.all(racing.flatMap((s) => [driver.ensureVm(s), other.ensureVm(s)]));
      expect(obs.every((o) => o.programmed)).toBe(true);
      expect(driver.stats.conflictRetries + other.stats.conflictRetries).toBeGreaterThan(retriesBefore);
      const ours = async (t: string) =>
        (await owned(t, 'capk-podnet/owner', 'tenant-b/cluster-b')).map((r) => ids(r)['capk-podnet/kind']);
      expect((await ours('Logical_Switch_Port')).length).toBe(10);
      expect((await ours('DHCP_Options')).length).toBe(10);
      expect((await ours('Logical_Router_Static_Route')).sort()).toEqual([
        'egress',
        ...Array(10).fill('route'),
      ]);
      expect((await ours('Logical_Router_Policy')).sort()).toEqual([
        ...Array(10).fill('policy'),
        'pool-allow',
      ]);
      for (const s of racing) await other.removeVm(s.machine);
    } finally {
      await other.stop();
    }
    for (const s of vmsOf(clusterB, 30, 10)) await driver.removeVm(s);
    expect(await owned('Logical_Switch_Port', 'capk-podnet/owner', 'tenant-b/cluster-b')).toEqual([]);
  });

  it('with a writer lock, only the holder writes; the other names the failed assert', async () => {
    const holder = await started({ writerLock: 'capk_podnet' });
    const standby = await started({ writerLock: 'capk_podnet', maxAttempts: 2 });
    try {
      const spec = vm(clusterA, 60, 'node-b');
      const err = await standby.ensureVm(spec).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as OvnSyncError).reason).toBe('NotLockHolder');
      expect((err as Error).message).toMatch(/assert/);
      expect(await owned('Logical_Switch_Port', 'capk-podnet/machine', 'tenant-a/worker-60')).toEqual([]);
      expect((await holder.ensureVm(spec)).programmed).toBe(true);
      // The holder goes away: the standby gets the lock and takes over (once its cache has the rows).
      await waitFor(
        'standby cache',
        async () =>
          standby.nb.cache.byExternalId('Logical_Switch_Port', 'capk-podnet/machine', 'tenant-a/worker-60')
            .length || undefined,
        5_000,
        10,
      );
      await holder.stop();
      expect((await standby.removeVm(spec.machine)) === undefined).toBe(true);
      expect(await owned('Logical_Switch_Port', 'capk-podnet/machine', 'tenant-a/worker-60')).toEqual([]);
    } finally {
      await holder.stop();
      await standby.stop();
    }
  });

  it('reports a failed transaction with the operation named, and writes nothing', async () => {
    // ovsdb-server rejects a policy priority above 32767: the insert fails, the transaction with it.
    const bad = await started({ northPolicyPriority: 40_000 });
    try {
      const spec = vm(clusterA, 90, 'node-a');
      const err = await bad.ensureVm(spec).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(OvnSyncError);
      expect((err as OvnSyncError).reason).toBe('TransactionFailed');
      expect((err as Error).message).toMatch(/insert on Logical_Router_Policy/);
      const cause = (err as Error).cause as OvsdbOperationError;
      expect(cause).toBeInstanceOf(OvsdbOperationError);
      expect(cause.table).toBe('Logical_Router_Policy');
      expect(await owned('Logical_Switch_Port', 'capk-podnet/machine', 'tenant-a/worker-90')).toEqual([]);
    } finally {
      await bad.stop();
    }
  });

  it("sends a cutover in its own transaction, not behind a batch of other machines' writes", async () => {
    const moving = vm(clusterA, 60, 'node-a');
    await driver.ensureVm(moving);
    const migration = { kind: 'migrating', source: 'node-a', target: 'node-b', migrationId: 'm1' } as const;
    await driver.ensureVm({ ...moving, placement: { ...migration, phase: 'target-created' } });
    // A burst of new machines (on a node whose gateway is set up: nothing else to wait for): the
    // first goes at once, the rest queue for the next transaction, the flip after them.
    const done: string[] = [];
    const burst = vmsOf(clusterA, 61, 30).map((_, i) =>
      driver.ensureVm(vm(clusterA, 61 + i, 'node-a')).then(() => done.push(`new-${i}`)),
    );
    const flip = driver
      .ensureVm({ ...moving, placement: { ...migration, phase: 'target-ready' } })
      .then((o) => (done.push('flip'), o));
    const [obs] = await Promise.all([flip, ...burst]);
    expect(obs.routedTo).toBe('node-b');
    // Behind the first machine's transaction at most, ahead of the queued batch.
    expect(done.indexOf('flip')).toBeLessThanOrEqual(1);
    await driver.sweep(new Set());
  });
});
