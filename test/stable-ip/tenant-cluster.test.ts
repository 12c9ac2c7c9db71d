// Stable node IPs end to end, through the real API server, the KubeVirt simulator and a real OVN:
// a tenant cluster comes up with IPs from its pool, and every IP, MAC and gateway survives live
// migrations, a failed migration, a VM restart, a drain and a controller restart; deleting a machine
// frees its address and its OVN rows.
import { KubevirtMachines } from '../../src/capk/resources.js';
import { IPAddressClaims, IPAddresses, type IPAddress, type IPAddressClaim } from '../../src/ipam/index.js';
import { VirtualMachineInstances, type VirtualMachineInstance } from '../../src/kubevirt/resources.js';
import { getCondition } from '../../src/runtime/index.js';
import { testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { TenantWorld } from '../env/tenant-world.js';

const kc = testKubeConfig();

interface NbRoute {
  ip_prefix: string;
  nexthop: string;
  output_port: string[] | string;
}

async function nbJson<T>(w: TenantWorld, table: string, columns: string[]): Promise<T[]> {
  const out = JSON.parse(
    await w.ovn.nbctl('--format=json', `--columns=${columns.join(',')}`, 'list', table),
  ) as {
    headings: string[];
    data: unknown[][];
  };
  const plain = (v: unknown): unknown =>
    Array.isArray(v) && v[0] === 'set'
      ? (v[1] as unknown[]).map(plain)
      : Array.isArray(v) && v[0] === 'map'
        ? Object.fromEntries(v[1] as [string, string][])
        : v;
  return out.data.map((r) => Object.fromEntries(out.headings.map((h, i) => [h, plain(r[i])])) as T);
}

/** The node whose router port the VM's /32 south route leaves through (exactly one route). */
async function southRouteNode(w: TenantWorld, ip: string): Promise<string> {
  const nodes = await w.southRouteNodes(ip);
  expect(nodes).toHaveLength(1);
  return nodes[0]!;
}

/** Switches that carry a port with this MAC and IP. */
async function portSwitches(w: TenantWorld, mac: string, ip: string): Promise<string[]> {
  const switches = await nbJson<{ name: string; ports: string[] | string }>(w, 'Logical_Switch', [
    'name',
    'ports',
  ]);
  const ports = await nbJson<{ _uuid: string; addresses: string[] | string }>(w, 'Logical_Switch_Port', [
    '_uuid',
    'addresses',
  ]);
  const mine = new Set(
    ports
      .filter((p) => [p.addresses].flat().includes(`${mac} ${ip}`))
      .map((p) => (Array.isArray(p._uuid) ? p._uuid[1] : p._uuid)),
  );
  return switches
    .filter((s) => [s.ports].flat().some((u) => mine.has(Array.isArray(u) ? u[1] : u)))
    .map((s) => s.name)
    .sort();
}

describe('stable node IPs end to end (API server + KubeVirt simulator + real OVN)', () => {
  let w: TenantWorld;
  beforeAll(async () => {
    w = await TenantWorld.start({ kc, prefix: 'stable', nodes: 3 });
    await w.createCluster('tenant', { ipam: { cidrs: ['10.100.0.0/24'] }, dnsServers: ['10.96.0.10'] });
    for (const m of ['tenant-m1', 'tenant-m2', 'tenant-m3']) await w.createMachine('tenant', m);
  }, 60_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('brings a 3-machine tenant cluster up with pool IPs, NetworkReady, and its rows in OVN', async () => {
    const ms = await Promise.all(['tenant-m1', 'tenant-m2', 'tenant-m3'].map((m) => w.networkReadyOn(m)));
    const ips = ms.map((m) => m.status!.network!.ipv4!);
    expect(new Set(ips).size).toBe(3);
    for (const m of ms) {
      const net = m.status!.network!;
      expect(net.ipv4).toMatch(/^10\.100\.0\.\d+$/);
      expect(net.gateway).toBe('169.254.1.1');
      expect(net.node).toBe(await w.vmiNode(m.metadata.name));
      expect(await southRouteNode(w, net.ipv4!)).toBe(net.node);
      expect(await portSwitches(w, net.mac!, net.ipv4!)).toEqual([net.node]);
      expect(getCondition(m, 'IPAMReady')?.status).toBe('True');
      // The backup the CRD guard restores from after an upgrade dropped the schema.
      const backup = JSON.parse(m.metadata.annotations?.['network.capk-podnet.io/backup'] ?? '{}') as {
        assigned?: object;
      };
      expect(backup.assigned).toEqual({ ipv4: net.ipv4, mac: net.mac });
    }
    // capk had to wait for the address: its first VM create was refused by the webhook.
    expect(w.capk.refusals).toBeGreaterThan(0);
  });

  it('keeps IP, MAC and gateway over 10 migrations, routes following the VM each time', async () => {
    const before = (await w.networkReadyOn('tenant-m1')).status!.network!;
    for (let i = 0; i < 10; i++) {
      const from = await w.vmiNode('tenant-m1');
      expect(await w.migrate('tenant-m1')).toEqual({ phase: 'Succeeded' });
      const to = await w.vmiNode('tenant-m1');
      expect(to).not.toBe(from);
      const net = (await w.networkReadyOn('tenant-m1', to)).status!.network!;
      expect({ ipv4: net.ipv4, mac: net.mac, gateway: net.gateway }).toEqual({
        ipv4: before.ipv4,
        mac: before.mac,
        gateway: before.gateway,
      });
      expect(net.lastMigration).toMatchObject({ from, to });
      expect(net.lastMigration?.cutoverMilliseconds).toBeGreaterThanOrEqual(0);
      expect(await southRouteNode(w, net.ipv4!)).toBe(to);
      expect(await portSwitches(w, net.mac!, net.ipv4!)).toEqual([to]);
    }
  }, 150_000);

  it('rolls back to the source when a migration fails', async () => {
    const from = await w.vmiNode('tenant-m2');
    const ip = (await w.networkReadyOn('tenant-m2')).status!.network!.ipv4!;
    w.sim.failNextMigration(w.ns, 'tenant-m2', { atPhase: 'Running', reason: 'injected' });
    expect(await w.migrate('tenant-m2')).toMatchObject({ phase: 'Failed' });
    const m = await w.networkReadyOn('tenant-m2', from);
    expect(m.status!.network!.ipv4).toBe(ip);
    expect(await southRouteNode(w, ip)).toBe(from);
    await waitFor(
      'target port gone',
      async () => ((await portSwitches(w, m.status!.network!.mac!, ip)).length === 1 ? true : undefined),
      10_000,
    );
  });

  it('keeps the IP when the VM restarts', async () => {
    const ip = (await w.networkReadyOn('tenant-m3')).status!.network!.ipv4!;
    const oldVmi = (await w.client.get<VirtualMachineInstance>(VirtualMachineInstances, 'tenant-m3', w.ns))
      .metadata.uid;
    await w.sim.restartVm(w.ns, 'tenant-m3');
    await waitFor(
      'a new VMI',
      async () => {
        const vmi = await w.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, 'tenant-m3', w.ns);
        return vmi && vmi.metadata.uid !== oldVmi && vmi.status?.phase === 'Running' ? true : undefined;
      },
      30_000,
    );
    const node = await w.vmiNode('tenant-m3');
    expect((await w.networkReadyOn('tenant-m3', node)).status!.network!.ipv4).toBe(ip);
    expect(await southRouteNode(w, ip)).toBe(node);
  });

  it('converges after the controller is killed in the middle of a migration', async () => {
    const from = await w.vmiNode('tenant-m1');
    const ip = (await w.networkReadyOn('tenant-m1')).status!.network!.ipv4!;
    await w.stopManager();
    expect(await w.migrate('tenant-m1')).toEqual({ phase: 'Succeeded' });
    const to = await w.vmiNode('tenant-m1');
    await w.startManager();
    const m = await w.networkReadyOn('tenant-m1', to);
    expect(to).not.toBe(from);
    expect(m.status!.network!.ipv4).toBe(ip);
    expect(await southRouteNode(w, ip)).toBe(to);
    expect(await portSwitches(w, m.status!.network!.mac!, ip)).toEqual([to]);
    const addresses = (await w.client.list<IPAddress>(IPAddresses, { namespace: w.ns })).items.map(
      (a) => a.spec.address,
    );
    expect(new Set(addresses).size).toBe(addresses.length);
  }, 150_000);

  it('moves every VM off a drained node by live migration, IPs unchanged', async () => {
    const target = await w.vmiNode('tenant-m2');
    const before = new Map<string, string>();
    for (const m of ['tenant-m1', 'tenant-m2', 'tenant-m3'])
      before.set(m, (await w.networkReadyOn(m)).status!.network!.ipv4!);
    await w.sim.drainNode(target);
    for (const m of ['tenant-m1', 'tenant-m2', 'tenant-m3']) {
      const node = await waitFor(
        `${m} off ${target}`,
        async () => {
          const n = await w.vmiNode(m);
          return n !== target ? n : undefined;
        },
        30_000,
      );
      const got = await w.networkReadyOn(m, node);
      expect(got.status!.network!.ipv4).toBe(before.get(m));
      expect(await southRouteNode(w, before.get(m)!)).toBe(node);
    }
    await w.sim.uncordonNode(target);
  }, 150_000);

  it('frees the address and the OVN rows when a machine is deleted', async () => {
    const m = (await w.networkReadyOn('tenant-m3')).status!.network!;
    await w.client.delete(KubevirtMachines, 'tenant-m3', w.ns);
    await waitFor(
      'machine gone',
      async () => ((await w.client.tryGet(KubevirtMachines, 'tenant-m3', w.ns)) ? undefined : true),
      30_000,
    );
    await waitFor(
      'address released',
      async () =>
        (await w.client.list<IPAddress>(IPAddresses, { namespace: w.ns })).items.some(
          (a) => a.spec.address === m.ipv4,
        )
          ? undefined
          : true,
      20_000,
    );
    expect(await portSwitches(w, m.mac!, m.ipv4!)).toEqual([]);
    const routes = await nbJson<NbRoute>(w, 'Logical_Router_Static_Route', [
      'ip_prefix',
      'nexthop',
      'output_port',
    ]);
    expect(routes.filter((r) => r.ip_prefix.startsWith(m.ipv4!))).toEqual([]);
  });

  it('waits for the claim an earlier machine of the same name left, then gets an address of its own', async () => {
    // The claim of a machine deleted a moment ago (its uid), bound, not yet released.
    const earlierUid = '00000000-0000-4000-8000-00000000e41e';
    await w.client.create<IPAddressClaim>(IPAddressClaims, {
      metadata: {
        name: 'reuse-m1',
        namespace: w.ns,
        ownerReferences: [
          {
            apiVersion: `${KubevirtMachines.group}/${KubevirtMachines.version}`,
            kind: 'KubevirtMachine',
            name: 'reuse-m1',
            uid: earlierUid,
            controller: true,
          },
        ],
      },
      spec: {
        poolRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'KubevirtCluster', name: 'tenant' },
      },
    });
    await waitFor(
      "the earlier machine's claim bound",
      async () =>
        (await w.client.get<IPAddressClaim>(IPAddressClaims, 'reuse-m1', w.ns)).status?.addressRef?.name,
      20_000,
    );
    await w.createMachine('tenant', 'reuse-m1');
    const waiting = await waitFor(
      'the new machine waiting for the earlier claim',
      async () => {
        const c = getCondition(await w.machine('reuse-m1'), 'IPAMReady');
        return c?.message?.includes('earlier machine') ? c : undefined;
      },
      20_000,
    );
    expect(waiting).toMatchObject({ status: 'False', reason: 'Pending' });
    expect((await w.machine('reuse-m1')).status?.network?.ipv4).toBeUndefined();
    expect(await w.client.tryGet(VirtualMachineInstances, 'reuse-m1', w.ns)).toBeUndefined();

    // The earlier claim goes (its address released): the machine claims and gets its own.
    await w.client.delete(IPAddressClaims, 'reuse-m1', w.ns);
    const m = await w.networkReadyOn('reuse-m1', undefined, 45_000);
    const claim = await w.client.get<IPAddressClaim>(IPAddressClaims, 'reuse-m1', w.ns);
    expect(claim.metadata.ownerReferences?.[0]?.uid).toBe(m.metadata.uid);
    expect(claim.status?.addressRef?.name).not.toBe(undefined);
    expect(m.status?.network?.ipv4).toBeDefined();
  }, 60_000);

  it('reports an exhausted pool on the machine, with no VM created for it', async () => {
    await w.createCluster('tiny', { ipam: { cidrs: ['10.101.0.0/30'] } }); // 2 usable
    const names = ['tiny-m1', 'tiny-m2', 'tiny-m3'];
    for (const m of names) await w.createMachine('tiny', m);
    // The claims race for the two addresses: which machine is left without one is not fixed.
    const { ready, refused } = await waitFor(
      'two machines NetworkReady and one IPAMReady False PoolExhausted',
      async () => {
        const ms = await Promise.all(names.map((n) => w.machine(n)));
        const ready = ms.filter((m) => getCondition(m, 'NetworkReady')?.status === 'True');
        const refused = ms.filter((m) => getCondition(m, 'IPAMReady')?.reason === 'PoolExhausted');
        return ready.length === 2 && refused.length === 1 ? { ready, refused: refused[0]! } : undefined;
      },
      45_000, // under the test timeout, so that this message is the one reported
    );
    expect(new Set(ready.map((m) => m.status!.network!.ipv4)).size).toBe(2);
    expect(getCondition(refused, 'IPAMReady')).toMatchObject({ status: 'False' });
    expect(getCondition(refused, 'NetworkReady')).toMatchObject({ status: 'False', reason: 'PoolExhausted' });
    expect(await w.client.tryGet(VirtualMachineInstances, refused.metadata.name, w.ns)).toBeUndefined();
  });
});
