// The in-cluster pool provider against the real API server with Cluster API's IPAM CRDs: addresses
// are unique even when two replicas race, a restart between allocation and binding adopts the
// address, a full pool is reported and recovers, pinned addresses are honoured or refused.
import {
  addInClusterPoolProvider,
  IPAddressClaims,
  IPAddresses,
  KubevirtClusters,
  RELEASE_FINALIZER,
  REQUESTED_ADDRESS_ANNOTATION,
  type IPAddress,
  type IPAddressClaim,
} from '../../src/ipam/index.js';
import { ipAddressObjectName } from '../../src/ipam/pool.js';
import { Manager, RestClient, getCondition, CoreEvents, type KubeObject } from '../../src/runtime/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';

const kc = testKubeConfig();
const client = new RestClient(kc);
const managers: Manager[] = [];

async function startProvider(ns: string): Promise<Manager> {
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  addInClusterPoolProvider(mgr, { exhaustedRetryMs: 60_000 });
  managers.push(mgr);
  await mgr.start();
  return mgr;
}

async function createPool(ns: string, name: string, cidrs: string[]): Promise<void> {
  await client.create(KubevirtClusters, {
    metadata: { name, namespace: ns },
    spec: { network: { ipam: { cidrs } } },
  } as KubeObject);
}

async function createClaim(
  ns: string,
  name: string,
  pool: string,
  requested?: string,
  finalizers?: string[],
): Promise<void> {
  await client.create<IPAddressClaim>(IPAddressClaims, {
    metadata: {
      name,
      namespace: ns,
      ...(requested ? { annotations: { [REQUESTED_ADDRESS_ANNOTATION]: requested } } : {}),
      ...(finalizers ? { finalizers } : {}),
    },
    spec: {
      clusterName: pool,
      poolRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'KubevirtCluster', name: pool },
    },
  });
}

const claimOf = (ns: string, name: string) => client.get<IPAddressClaim>(IPAddressClaims, name, ns);

async function boundAddress(ns: string, claim: string): Promise<string> {
  return waitFor(
    `claim ${claim} bound`,
    async () => {
      const c = await claimOf(ns, claim);
      const ref = c.status?.addressRef?.name;
      if (!ref) return undefined;
      return (await client.get<IPAddress>(IPAddresses, ref, ns)).spec.address;
    },
    20_000,
  );
}

async function readyReason(ns: string, claim: string, reason: string): Promise<string> {
  return waitFor(
    `claim ${claim} Ready reason ${reason}`,
    async () => {
      const c = getCondition(await claimOf(ns, claim), 'Ready');
      return c?.reason === reason ? (c.message ?? '') : undefined;
    },
    20_000,
  );
}

async function addressesIn(ns: string): Promise<IPAddress[]> {
  return (await client.list<IPAddress>(IPAddresses, { namespace: ns })).items;
}

/** An IPAddress of a claim, as the provider writes one (the state a crash or a race leaves). */
async function createAddressFor(ns: string, claim: IPAddressClaim, address: string, prefix: number) {
  const pool = claim.spec.poolRef.name;
  return client.create<IPAddress>(IPAddresses, {
    metadata: {
      name: ipAddressObjectName(pool, address),
      namespace: ns,
      labels: { 'network.capk-podnet.io/pool': pool },
      ownerReferences: [
        {
          apiVersion: claim.apiVersion!,
          kind: 'IPAddressClaim',
          name: claim.metadata.name,
          uid: claim.metadata.uid!,
          controller: true,
        },
      ],
    },
    spec: { claimRef: { name: claim.metadata.name }, poolRef: claim.spec.poolRef, address, prefix },
  });
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});
afterAll(() => client.close());

describe('in-cluster pool provider (real API server)', () => {
  it('gives each claim its own address, lowest first, with the contract fields', async () => {
    const ns = await createTestNamespace(kc, 'ipam');
    await createPool(ns, 'tenant-a', ['10.10.0.0/29']);
    await startProvider(ns);
    for (const c of ['m1', 'm2', 'm3']) await createClaim(ns, c, 'tenant-a');

    const got = await Promise.all(['m1', 'm2', 'm3'].map((c) => boundAddress(ns, c)));
    expect(new Set(got).size).toBe(3);
    expect([...got].sort()).toEqual(['10.10.0.1', '10.10.0.2', '10.10.0.3']);

    const claim = await claimOf(ns, 'm1');
    expect(claim.metadata.finalizers).toContain(RELEASE_FINALIZER);
    const addr = await client.get<IPAddress>(IPAddresses, claim.status!.addressRef!.name!, ns);
    expect(addr.metadata.name).toBe(ipAddressObjectName('tenant-a', addr.spec.address));
    expect(addr.spec).toMatchObject({ claimRef: { name: 'm1' }, prefix: 29, gateway: '169.254.1.1' });
    expect(addr.metadata.ownerReferences?.[0]).toMatchObject({
      kind: 'IPAddressClaim',
      name: 'm1',
      controller: true,
    });
    expect(getCondition(claim, 'Ready')).toMatchObject({ status: 'True', reason: 'Allocated' });
  });

  it('allocates with one create, one finalizer write and one status write per claim, reading nothing live', async () => {
    const ns = await createTestNamespace(kc, 'ipam-cost');
    await createPool(ns, 'tenant-k', ['10.60.0.0/26']);
    const names = Array.from({ length: 24 }, (_, i) => `m${i}`);
    await Promise.all(names.map((n) => createClaim(ns, n, 'tenant-k')));
    // One replica, its four workers on a backlog of claims of one pool: the race the ledger prevents.
    const mgr = await startProvider(ns);
    const requests = async () => {
      const m = await mgr.metrics.restRequests.get();
      const count = (method: string, code?: string) =>
        m.values
          .filter((v) => v.labels.method === method && (code === undefined || String(v.labels.code) === code))
          .reduce((n, v) => n + v.value, 0);
      return {
        get: count('GET'),
        patch: count('PATCH'),
        conflicts: count('POST', '409') + count('PATCH', '409'),
      };
    };
    const synced = await requests(); // the informers' lists
    const got = await Promise.all(names.map((n) => boundAddress(ns, n)));
    expect(new Set(got).size).toBe(names.length);
    // The Allocated Events are written in the background; let them land before counting.
    await waitFor(
      'an Allocated Event per claim',
      async () => {
        const evs = await client.list<KubeObject & { reason?: string }>(CoreEvents, { namespace: ns });
        return evs.items.filter((e) => e.reason === 'Allocated').length === names.length ? true : undefined;
      },
      20_000,
    );
    const done = await requests();
    expect(done.conflicts - synced.conflicts).toBe(0);
    expect(done.get - synced.get).toBe(0);
    expect(done.patch - synced.patch).toBe(2 * names.length);
    expect((await addressesIn(ns)).length).toBe(names.length);
  });

  it('never hands one address to two claims when two replicas race', async () => {
    const ns = await createTestNamespace(kc, 'ipam-race');
    await createPool(ns, 'tenant-r', ['10.20.0.0/28']); // 14 usable
    const names = Array.from({ length: 12 }, (_, i) => `m${i}`);
    await Promise.all(names.map((n) => createClaim(ns, n, 'tenant-r')));
    // Every binding any claim ever shows: once written, a binding must stand (a VM may use it).
    const observer = new Manager({ kubeConfig: kc, namespaces: [ns] });
    const bindings = new Map<string, Set<string>>();
    observer.informer<IPAddressClaim>(IPAddressClaims).addHandler((e) => {
      const ref = e.object.status?.addressRef?.name;
      if (ref)
        bindings.set(e.object.metadata.name, (bindings.get(e.object.metadata.name) ?? new Set()).add(ref));
    });
    managers.push(observer);
    await observer.start();
    // Both replicas start on the same backlog of unbound claims at once.
    await Promise.all([startProvider(ns), startProvider(ns)]);

    const got = await Promise.all(names.map((n) => boundAddress(ns, n)));
    expect(new Set(got).size).toBe(names.length);
    // Let any duplicate from the race be released, then check one address object per claim.
    await waitFor(
      'one IPAddress per claim',
      async () => ((await addressesIn(ns)).length === names.length ? true : undefined),
      20_000,
    );
    const byClaim = new Map<string, number>();
    for (const a of await addressesIn(ns))
      byClaim.set(a.spec.claimRef.name, (byClaim.get(a.spec.claimRef.name) ?? 0) + 1);
    expect([...byClaim.values()].every((n) => n === 1)).toBe(true);
    expect(Object.fromEntries([...bindings].filter(([, refs]) => refs.size > 1))).toEqual({});
  });

  it('adopts the address it created before a restart instead of allocating another', async () => {
    const ns = await createTestNamespace(kc, 'ipam-restart');
    await createPool(ns, 'tenant-b', ['10.30.0.0/29']);
    await createClaim(ns, 'm1', 'tenant-b');
    const claim = await claimOf(ns, 'm1');
    // The state a crash leaves: the IPAddress exists, the claim's status never got written.
    await createAddressFor(ns, claim, '10.30.0.5', 29);
    await startProvider(ns);
    expect(await boundAddress(ns, 'm1')).toBe('10.30.0.5');
    expect((await addressesIn(ns)).map((a) => a.spec.address)).toEqual(['10.30.0.5']);
  });

  it('a replica whose cache still shows a claim unbound never deletes the address another bound it to', async () => {
    const ns = await createTestNamespace(kc, 'ipam-stale');
    await createPool(ns, 'tenant-s', ['10.40.0.0/29']);
    // The claim after a provider's first pass: its release finalizer is on, it is not bound yet.
    await createClaim(ns, 'm1', 'tenant-s', undefined, [RELEASE_FINALIZER]);
    const claim = await claimOf(ns, 'm1');
    // Replica B: caches synced, controllers held back until it leads. Another holds the lease.
    const election = (id: string) => ({
      kubeConfig: kc,
      namespaces: [ns],
      leaderElection: {
        enabled: true,
        namespace: ns,
        name: 'ipam-stale',
        identity: id,
        leaseDurationMs: 4_000,
        renewDeadlineMs: 3_000,
        retryPeriodMs: 200,
        releaseOnCancel: true,
      },
    });
    const holder = new Manager(election('holder'));
    managers.push(holder);
    await holder.start();
    await waitFor('the holder leads', async () => (holder.isLeader() ? true : undefined), 10_000);
    const b = new Manager(election('replica-b'));
    addInClusterPoolProvider(b, { exhaustedRetryMs: 60_000 });
    managers.push(b);
    await b.start();
    // B's view of claims stops here: m1 unbound, as a watch a moment behind would show it.
    await b.informer<IPAddressClaim>(IPAddressClaims).stop();

    // A race between replicas left two addresses of m1; the other replica bound m1 to the newer
    // one. B adopts the oldest of a claim it sees unbound: the one not bound.
    const older = await createAddressFor(ns, claim, '10.40.0.2', 29);
    const bound = await createAddressFor(ns, claim, '10.40.0.3', 29);
    await client.patch(
      IPAddressClaims,
      'm1',
      ns,
      { status: { addressRef: { name: bound.metadata.name } } },
      { subresource: 'status' },
    );
    const bAddresses = b.informer<IPAddress>(IPAddresses);
    await waitFor(
      'B sees both addresses',
      async () =>
        bAddresses.get({ namespace: ns, name: older.metadata.name }) &&
        bAddresses.get({ namespace: ns, name: bound.metadata.name })
          ? true
          : undefined,
      10_000,
    );
    await holder.stop(); // hands the lease over: B leads and reconciles m1 from its stale view

    await waitFor(
      "B's attempt released",
      async () => ((await addressesIn(ns)).length < 2 ? true : undefined),
      20_000,
    );
    // The binding the other replica wrote stands, on an address that still exists.
    expect((await addressesIn(ns)).map((a) => a.metadata.name)).toEqual([bound.metadata.name]);
    expect((await claimOf(ns, 'm1')).status?.addressRef?.name).toBe(bound.metadata.name);
  }, 60_000);

  it('allocates again for a bound claim whose address object was deleted under it', async () => {
    const ns = await createTestNamespace(kc, 'ipam-lost');
    await createPool(ns, 'tenant-l', ['10.70.0.0/29']);
    await startProvider(ns);
    await createClaim(ns, 'm1', 'tenant-l');
    const address = await boundAddress(ns, 'm1');
    const name = ipAddressObjectName('tenant-l', address);
    const before = await client.get<IPAddress>(IPAddresses, name, ns);
    await client.delete(IPAddresses, name, ns);
    const again = await waitFor(
      'a new IPAddress for m1',
      async () => {
        const a = (await addressesIn(ns)).find((x) => x.spec.claimRef.name === 'm1');
        return a && a.metadata.uid !== before.metadata.uid ? a : undefined;
      },
      20_000,
    );
    expect((await claimOf(ns, 'm1')).status?.addressRef?.name).toBe(again.metadata.name);
    expect(getCondition(await claimOf(ns, 'm1'), 'Ready')).toMatchObject({ status: 'True' });
  });

  it('reports a full pool with a condition and an Event, and resumes when an address is freed', async () => {
    const ns = await createTestNamespace(kc, 'ipam-full');
    await createPool(ns, 'tenant-c', ['10.40.0.0/30']); // 2 usable
    await startProvider(ns);
    await createClaim(ns, 'm1', 'tenant-c');
    await createClaim(ns, 'm2', 'tenant-c');
    await boundAddress(ns, 'm1');
    await boundAddress(ns, 'm2');
    await createClaim(ns, 'm3', 'tenant-c');
    expect(await readyReason(ns, 'm3', 'PoolExhausted')).toContain('10.40.0.0/30');
    const events = await client.list<KubeObject & { reason?: string; involvedObject?: { name?: string } }>(
      CoreEvents,
      { namespace: ns },
    );
    expect(events.items.some((e) => e.reason === 'PoolExhausted' && e.involvedObject?.name === 'm3')).toBe(
      true,
    );

    // Deleting m1 releases its address (finalizer), and m3 gets it without waiting for a timer.
    const freed = await boundAddress(ns, 'm1');
    await client.delete(IPAddressClaims, 'm1', ns);
    await waitFor(
      'm1 gone',
      async () => ((await client.tryGet(IPAddressClaims, 'm1', ns)) ? undefined : true),
      20_000,
    );
    expect(await boundAddress(ns, 'm3')).toBe(freed);
  });

  it('honours a pinned address and refuses one outside the pool or held by another claim', async () => {
    const ns = await createTestNamespace(kc, 'ipam-pin');
    await createPool(ns, 'tenant-d', ['10.50.0.0/28']);
    await startProvider(ns);
    await createClaim(ns, 'pinned', 'tenant-d', '10.50.0.9');
    expect(await boundAddress(ns, 'pinned')).toBe('10.50.0.9');

    await createClaim(ns, 'outside', 'tenant-d', '10.99.0.9');
    expect(await readyReason(ns, 'outside', 'RequestedAddressUnusable')).toContain('outside the pool');

    await createClaim(ns, 'twin', 'tenant-d', '10.50.0.9');
    expect(await readyReason(ns, 'twin', 'RequestedAddressInUse')).toContain('10.50.0.9');
    expect((await addressesIn(ns)).map((a) => a.spec.address)).toEqual(['10.50.0.9']);
  });
});
