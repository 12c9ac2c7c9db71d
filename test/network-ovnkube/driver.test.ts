// The OVN-Kubernetes driver through the real API server: KubeVirt played by the simulator,
// OVN-Kubernetes' pod annotation by a stand-in (no OVN-Kubernetes runs here). VMs are shaped as the
// admission webhook shapes them (bridge binding, stable MAC, live-migration opt-in).
import { macForIPv4 } from '../../src/controllers/machine-network/desired.js';
import { launcherPodsOf, placementOf } from '../../src/kubevirt/placement.js';
import {
  KubevirtAnnotations,
  VirtualMachineInstanceMigrations,
  VirtualMachineInstances,
  VirtualMachines,
  type Pod,
  type VirtualMachine,
  type VirtualMachineInstance,
} from '../../src/kubevirt/resources.js';
import type { VmNetworkObservation, VmNetworkSpec } from '../../src/network/driver.js';
import { DEFAULT_NETWORK_ANNOTATION, OvnKubeDriver } from '../../src/network/ovnkube/index.js';
import { Pods, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { shapeVirtualMachine } from '../../src/webhook/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { KubevirtSimulator, type MigrationContext } from '../kubevirt-sim/index.js';
import { virtualMachine } from '../kubevirt-sim/testing.js';
import { OvnKubeStandIn } from './ovnk-standin.js';

const kc = testKubeConfig();
const client = new RestClient(kc);

/** Holds one migration at the simulator's awaitTargetReady gate until released. */
class Gate {
  readonly arrived: Promise<MigrationContext & { targetNode: string }>;
  release!: () => void;
  private arrive!: (ctx: MigrationContext & { targetNode: string }) => void;
  private readonly opened: Promise<void>;
  constructor() {
    this.arrived = new Promise((r) => (this.arrive = r));
    this.opened = new Promise((r) => (this.release = r));
  }
  async pass(ctx: MigrationContext & { targetNode: string }): Promise<void> {
    this.arrive(ctx);
    await this.opened;
  }
}

describe('OvnKubeDriver (real API server, KubeVirt simulator, OVN-Kubernetes annotation stand-in)', () => {
  const sim = new KubevirtSimulator();
  let ns: string;
  let standIn: OvnKubeStandIn;
  let gate: Gate | undefined;
  // A primary layer2 UDN: OVN-Kubernetes honours the requested IP and MAC.
  const udn = new OvnKubeDriver({ client, network: 'primary-udn' });
  // The cluster default network: the MAC is honoured, the IP is OVN-Kubernetes' own.
  const dflt = new OvnKubeDriver({ client });

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'ovnkube');
    await sim.start(kc, {
      namespace: ns,
      nodes: 3,
      timing: { targetPendingTimeoutMs: 20_000 },
      hooks: {
        awaitTargetReady: async (ctx) => {
          const g = gate;
          gate = undefined;
          if (g) await g.pass(ctx);
        },
      },
    });
    standIn = new OvnKubeStandIn(kc, ns, () => sim.nodeNamesList);
    await standIn.start();
  });

  afterAll(async () => {
    gate?.release();
    standIn?.stop();
    await sim.stop();
    client.close();
  });

  afterEach(() => expect(standIn.errors).toEqual([]));

  /** A VM as capk creates it and the webhook shapes it; `optIn: false` leaves the opt-in off. */
  async function createVm(
    name: string,
    ip: string,
    opts: { start?: boolean; annotations?: Record<string, string>; optIn?: boolean } = {},
  ): Promise<VirtualMachine> {
    const mac = macForIPv4(ip);
    const vm = virtualMachine(ns, name, {
      runStrategy: opts.start ? 'Always' : 'Manual',
      interfaces: [{ name: 'default', bridge: {}, macAddress: mac }],
      annotations: {
        ...(opts.optIn === false ? {} : { [KubevirtAnnotations.allowPodBridgeLiveMigration]: '' }),
        ...opts.annotations,
      },
    }) as unknown as VirtualMachine;
    // What the admission webhook would add: nothing beyond the opt-in, when it is there.
    expect(shapeVirtualMachine(vm, mac).map((o) => o.path)).toEqual(
      opts.optIn === false
        ? [
            `/spec/template/metadata/annotations/${KubevirtAnnotations.allowPodBridgeLiveMigration.replace('/', '~1')}`,
          ]
        : [],
    );
    return client.create<VirtualMachine>(VirtualMachines, vm);
  }

  /** The driver's input, with the placement read from KubeVirt as the machine controller reads it. */
  async function specOf(name: string, ip: string): Promise<VmNetworkSpec> {
    const vmi = await client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, ns);
    const pods = (await client.list<Pod>(Pods, { namespace: ns })).items;
    return {
      cluster: { namespace: ns, name: 'c1' },
      machine: { namespace: ns, name },
      ipv4: ip,
      prefixLength: 24,
      mac: macForIPv4(ip),
      hostname: name,
      gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
      dnsServers: [],
      placement: placementOf(vmi, launcherPodsOf(name, pods)).placement,
    };
  }

  const ensure = async (d: OvnKubeDriver, name: string, ip: string) => d.ensureVm(await specOf(name, ip));

  const ensureUntil = (
    d: OvnKubeDriver,
    name: string,
    ip: string,
    what: string,
    ok: (o: VmNetworkObservation) => boolean,
  ) =>
    waitFor(
      what,
      async () => {
        const o = await ensure(d, name, ip);
        return ok(o) ? o : undefined;
      },
      20_000,
    );

  const templateAnnotations = async (name: string) =>
    (await client.get<VirtualMachine>(VirtualMachines, name, ns)).spec?.template?.metadata?.annotations ?? {};

  const vmiNode = async (name: string) =>
    (await client.get<VirtualMachineInstance>(VirtualMachineInstances, name, ns)).status?.nodeName;

  it('asks OVN-Kubernetes for the MAC and IP on the VM template, before the VM starts', async () => {
    await createVm('m1', '10.200.0.11', { optIn: false });
    const before = udn.stats.vmPatches;
    const o = await ensure(udn, 'm1', '10.200.0.11');
    expect(o).toMatchObject({ programmed: false, reason: 'Unscheduled', portNodes: [] });
    expect(udn.stats.vmPatches).toBe(before + 1);
    const a = await templateAnnotations('m1');
    expect(a[KubevirtAnnotations.allowPodBridgeLiveMigration]).toBe('');
    expect(JSON.parse(a[DEFAULT_NETWORK_ANNOTATION]!)).toEqual([
      { name: 'default', namespace: 'ovn-kubernetes', mac: '0a:58:0a:c8:00:0b', ips: ['10.200.0.11/24'] },
    ]);

    // The default-network driver asks for the MAC only (OVN-Kubernetes ignores `ips` there).
    await createVm('d1', '10.200.0.21');
    await ensure(dflt, 'd1', '10.200.0.21');
    expect(JSON.parse((await templateAnnotations('d1'))[DEFAULT_NETWORK_ANNOTATION]!)).toEqual([
      { name: 'default', namespace: 'ovn-kubernetes', mac: '0a:58:0a:c8:00:15' },
    ]);
  });

  it('is programmed once OVN-Kubernetes annotates the running pod with the claimed IP and MAC', async () => {
    standIn.network = 'primary-udn';
    await sim.startVm(ns, 'm1');
    const o = await ensureUntil(udn, 'm1', '10.200.0.11', 'm1 programmed', (x) => x.programmed);
    const node = await vmiNode('m1');
    expect(node).toBeDefined();
    expect(o).toEqual({ programmed: true, routedTo: node, portNodes: [node] });
    // The request reached the pod through the VMI, where OVN-Kubernetes reads it.
    const pods = (await client.list<Pod>(Pods, { namespace: ns, labelSelector: 'vm.kubevirt.io/name=m1' }))
      .items;
    expect(pods.map((p) => p.metadata.annotations?.[DEFAULT_NETWORK_ANNOTATION])).toEqual([
      (await templateAnnotations('m1'))[DEFAULT_NETWORK_ANNOTATION],
    ]);
  });

  it('writes nothing when nothing changed', async () => {
    // The generation, not the resourceVersion: the simulator keeps writing the VM's status, which
    // moves the resourceVersion; any write of the driver's (the template) moves the generation.
    const before = await client.get<KubeObject>(VirtualMachines, 'm1', ns);
    const patches = udn.stats.vmPatches;
    const a = await ensure(udn, 'm1', '10.200.0.11');
    const b = await ensure(udn, 'm1', '10.200.0.11');
    expect(b).toEqual(a);
    expect(a.programmed).toBe(true);
    expect(udn.stats.vmPatches).toBe(patches);
    const after = await client.get<KubeObject>(VirtualMachines, 'm1', ns);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    expect(after.spec).toEqual(before.spec);
  });

  it('reports both port nodes while the target is prepared, and routes to the target after the migration', async () => {
    const source = (await vmiNode('m1'))!;
    gate = new Gate();
    const g = gate;
    await client.create(VirtualMachineInstanceMigrations, {
      metadata: { name: 'mig-1', namespace: ns },
      spec: { vmiName: 'm1' },
    } as KubeObject);
    const ctx = await g.arrived;
    const target = ctx.targetNode;
    expect(target).not.toBe(source);

    // Target pod Running, domain not ready: OVN-Kubernetes has copied the source's annotation to
    // the target pod (two ports) and traffic still goes to the source.
    const during = await ensureUntil(udn, 'm1', '10.200.0.11', 'two ports', (o) => o.portNodes.length === 2);
    expect(during).toEqual({ programmed: true, routedTo: source, portNodes: [source, target].sort() });
    expect((await specOf('m1', '10.200.0.11')).placement).toMatchObject({
      kind: 'migrating',
      phase: 'target-created',
    });

    g.release();
    const after = await ensureUntil(
      udn,
      'm1',
      '10.200.0.11',
      'routed to the target',
      (o) => o.routedTo === target && o.portNodes.length === 1,
    );
    expect(after).toEqual({ programmed: true, routedTo: target, portNodes: [target] });
    expect(await vmiNode('m1')).toBe(target);
  });

  it('flags IPMismatch with both IPs when OVN-Kubernetes gives the VM another IP', async () => {
    // The default network: OVN-Kubernetes takes the requested MAC and allocates the IP itself.
    standIn.network = 'default';
    await sim.startVm(ns, 'd1');
    const o = await ensureUntil(dflt, 'd1', '10.200.0.21', 'd1 IPMismatch', (x) => x.reason === 'IPMismatch');
    const node = await vmiNode('d1');
    expect(o).toMatchObject({ programmed: false, routedTo: node, portNodes: [node] });
    const given = /gave pod \S+ on \S+ (10\.128\.\d+\.\d+)/.exec(o.message ?? '')?.[1];
    expect(given).toBeDefined();
    expect(o.message).toContain('the claim is 10.200.0.21');
    // The MAC was honoured: the mismatch is the IP alone.
    const pod = (
      await client.list<Pod>(Pods, { namespace: ns, labelSelector: 'vm.kubevirt.io/name=d1' })
    ).items.find((p) => p.spec?.nodeName === node)!;
    const nets = JSON.parse(pod.metadata.annotations!['k8s.ovn.org/pod-networks']!) as Record<
      string,
      { mac_address: string; ip_addresses: string[] }
    >;
    expect(nets.default).toMatchObject({ mac_address: '0a:58:0a:c8:00:15', ip_addresses: [`${given}/24`] });
  });

  it('a VM that started before the request shows the mismatch until its next start', async () => {
    standIn.network = 'primary-udn';
    // Running before the driver saw it: its pod carries no request, so the UDN IP is OVN-K's pick.
    await createVm('m2', '10.200.0.12', { start: true });
    await waitFor(
      'm2 launcher pod',
      async () => (await client.tryGet(VirtualMachineInstances, 'm2', ns))?.metadata.uid,
      10_000,
    );
    const o = await ensureUntil(udn, 'm2', '10.200.0.12', 'm2 IPMismatch', (x) => x.reason === 'IPMismatch');
    expect(o.message).toMatch(/gave pod \S+ on \S+ 10\.200\.9\.\d+, the claim is 10\.200\.0\.12/);
    expect(o.message).toContain('next VM start');
    expect((await templateAnnotations('m2'))[DEFAULT_NETWORK_ANNOTATION]).toBeDefined();

    await sim.restartVm(ns, 'm2');
    const r = await ensureUntil(udn, 'm2', '10.200.0.12', 'm2 programmed after restart', (x) => x.programmed);
    expect(r.routedTo).toBe(await vmiNode('m2'));
  });

  it("leaves someone else's default-network selection alone", async () => {
    await createVm('m3', '10.200.0.13', { annotations: { [DEFAULT_NETWORK_ANNOTATION]: 'other/net' } });
    const patches = udn.stats.vmPatches;
    const o = await ensure(udn, 'm3', '10.200.0.13');
    expect(o).toMatchObject({ programmed: false, reason: 'ForeignDefaultNetwork' });
    expect(o.message).toContain('other/net');
    expect(udn.stats.vmPatches).toBe(patches);
    expect((await templateAnnotations('m3'))[DEFAULT_NETWORK_ANNOTATION]).toBe('other/net');
    // Removal does not touch it either.
    await udn.removeVm({ namespace: ns, name: 'm3' });
    expect(udn.stats.vmPatches).toBe(patches);
  });

  it('plans again when the VM changed between its read and the patch (409)', async () => {
    await createVm('m4', '10.200.0.14');
    // Another writer (capk, a person) labels the VM just before the driver's first patch lands.
    class RacingClient extends RestClient {
      raced = 0;
      override async patch<T extends KubeObject>(...args: Parameters<RestClient['patch']>): Promise<T> {
        if (this.raced++ === 0)
          await client.patch(VirtualMachines, 'm4', ns, { metadata: { labels: { racer: 'was-here' } } });
        return super.patch<T>(...args);
      }
    }
    const racing = new RacingClient(kc);
    const d = new OvnKubeDriver({ client: racing, network: 'primary-udn' });
    try {
      await d.ensureVm(await specOf('m4', '10.200.0.14'));
      // At least the racer's conflict; KubeVirt's own status writes on the VM may add more.
      expect(d.stats.conflicts).toBeGreaterThanOrEqual(1);
      expect(d.stats.vmPatches).toBe(1);
      const vm = await client.get<VirtualMachine>(VirtualMachines, 'm4', ns);
      expect(vm.metadata.labels?.racer).toBe('was-here');
      expect(vm.spec?.template?.metadata?.annotations?.[DEFAULT_NETWORK_ANNOTATION]).toContain(
        '10.200.0.14/24',
      );
    } finally {
      racing.close();
    }
  });

  it('removeVm takes its request off the VM, once; a missing VM is fine', async () => {
    const patches = udn.stats.vmPatches;
    await udn.removeVm({ namespace: ns, name: 'm1' });
    await udn.removeVm({ namespace: ns, name: 'm1' });
    expect(udn.stats.vmPatches).toBe(patches + 1);
    const a = await templateAnnotations('m1');
    expect(a[DEFAULT_NETWORK_ANNOTATION]).toBeUndefined();
    expect(a[KubevirtAnnotations.allowPodBridgeLiveMigration]).toBe('');
    await udn.removeVm({ namespace: ns, name: 'gone' });
    expect(await udn.sweep(new Set())).toBe(0);
    expect(await ensure(udn, 'gone', '10.200.0.99')).toMatchObject({
      programmed: false,
      reason: 'VirtualMachineMissing',
    });
  });
});
