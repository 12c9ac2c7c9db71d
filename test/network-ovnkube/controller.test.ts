// The OVN-Kubernetes driver behind the real machine network controller: capk-podnet's manager (pool
// IPAM, machine network controller, VM webhook), capk's VM creation stood in, KubeVirt simulated,
// and OVN-Kubernetes' pod annotation stood in. What the driver observes must reach the
// KubevirtMachine's NetworkReady condition.
import { KubevirtClusters, KubevirtMachines, type KubevirtMachine } from '../../src/capk/resources.js';
import { addMachineNetworkController } from '../../src/controllers/machine-network/index.js';
import { addInClusterPoolProvider } from '../../src/ipam/index.js';
import {
  VirtualMachineInstanceMigrations,
  VirtualMachineInstances,
  VirtualMachines,
  type VirtualMachine,
  type VirtualMachineInstance,
} from '../../src/kubevirt/resources.js';
import { DEFAULT_NETWORK_ANNOTATION, OvnKubeDriver } from '../../src/network/ovnkube/index.js';
import {
  createLogger,
  getCondition,
  Manager,
  Pods,
  RestClient,
  type KubeObject,
} from '../../src/runtime/index.js';
import { startCapkStandIn, type CapkStandIn } from '../env/capk-standin.js';
import { kubevirtMachineObject } from '../env/tenant-world.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { serveVmWebhook, type VmWebhook } from '../env/webhook.js';
import { KubevirtSimulator } from '../kubevirt-sim/index.js';
import { OvnKubeStandIn } from './ovnk-standin.js';

const kc = testKubeConfig();
const client = new RestClient(kc);

describe('OvnKubeDriver behind the machine network controller', () => {
  const sim = new KubevirtSimulator();
  let ns: string;
  let mgr: Manager;
  let webhook: VmWebhook;
  let capk: CapkStandIn;
  let standIn: OvnKubeStandIn;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'ovnkube-ctl');
    // A loaded machine may take more than the default second to start a target pod.
    await sim.start(kc, { namespace: ns, nodes: 3, timing: { targetPendingTimeoutMs: 20_000 } });
    standIn = new OvnKubeStandIn(kc, ns, () => sim.nodeNamesList);
    await standIn.start();
    capk = await startCapkStandIn(kc, ns);
    mgr = new Manager({ kubeConfig: kc, namespaces: [ns], logger: createLogger({ level: 'error' }) });
    addInClusterPoolProvider(mgr);
    addMachineNetworkController(mgr, {
      driver: new OvnKubeDriver({ client: new RestClient(kc), network: 'primary-udn' }),
      defaults: { dnsServers: ['10.96.0.10'], mtu: 1400 },
    });
    webhook = await serveVmWebhook(kc, mgr, ns);
    await mgr.start();
    await client.create(KubevirtClusters, {
      metadata: { name: 'tenant', namespace: ns },
      spec: { network: { ipam: { cidrs: ['10.200.0.0/24'] }, dnsServers: ['10.96.0.10'] } },
    } as KubeObject);
    await client.create(KubevirtMachines, kubevirtMachineObject(ns, 'tenant', 'm1'));
  }, 60_000);

  afterAll(async () => {
    await webhook?.stop();
    await mgr?.stop();
    await capk?.stop();
    standIn?.stop();
    await sim.stop();
    client.close();
  });

  afterEach(() => expect(standIn.errors).toEqual([]));

  /** m1's VMI once Running and live-migratable; with `notUid`, a VMI other than that one (a restart). */
  const runningVmi = (notUid?: string) =>
    waitFor(
      'm1 VMI running',
      async () => {
        const v = await client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, 'm1', ns);
        const migratable = v?.status?.conditions?.some(
          (c) => c.type === 'LiveMigratable' && c.status === 'True',
        );
        return v?.status?.phase === 'Running' && migratable && v.metadata.uid !== notUid ? v : undefined;
      },
      30_000,
    );

  const vmiNode = async () =>
    (await client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, 'm1', ns))?.status?.nodeName;

  /** Waits for m1's NetworkReady to match; returns the condition and the machine's IP. */
  const networkReady = (
    what: string,
    ok: (c: { status: string; reason?: string; message?: string }) => boolean,
  ) =>
    waitFor(
      what,
      async () => {
        const m = await client.get<KubevirtMachine>(KubevirtMachines, 'm1', ns);
        const c = getCondition(m, 'NetworkReady');
        const ip = m.status?.network?.ipv4;
        return c && ip && ok(c) ? { ...c, ip } : undefined;
      },
      30_000,
    );

  it('NetworkReady once the VM runs with the request and OVN-Kubernetes gave it the claimed IP', async () => {
    // The driver puts the request on the template; the VM may have started before it (the webhook
    // shapes only MAC, bridge and opt-in), so restart it as an operator would.
    await waitFor(
      'request on the VM template',
      async () =>
        (await client.tryGet<VirtualMachine>(VirtualMachines, 'm1', ns))?.spec?.template?.metadata
          ?.annotations?.[DEFAULT_NETWORK_ANNOTATION],
      30_000,
    );
    const first = await runningVmi();
    await sim.restartVm(ns, 'm1');
    const vmi = await runningVmi(first.metadata.uid);
    // The new launcher pod carries the request, and OVN-Kubernetes (the stand-in) has answered it.
    await waitFor(
      'new pod annotated',
      async () =>
        (
          await client.list<KubeObject>(Pods, {
            namespace: ns,
            labelSelector: `kubevirt.io/created-by=${vmi.metadata.uid}`,
          })
        ).items.find(
          (p) =>
            p.metadata.annotations?.[DEFAULT_NETWORK_ANNOTATION] &&
            p.metadata.annotations['k8s.ovn.org/pod-networks'],
        ),
      30_000,
    );
    const c = await networkReady(
      'NetworkReady True',
      (x) => x.status === 'True' && (x.message?.includes('served on') ?? false),
    );
    expect(c.ip).toMatch(/^10\.200\.0\.\d+$/);
    expect(c.message).toBe(`${c.ip} served on ${await vmiNode()}`);
  });

  it('follows a live migration to the target node', async () => {
    const source = (await runningVmi()).status?.nodeName;
    // Right after a restart the simulator's caches may lag the new VMI and pod and fail the
    // migration ("no source pod", "not running"); KubeVirt would refuse it. Ask again.
    for (let attempt = 1; ; attempt++) {
      const name = `mig-${attempt}`;
      await client.create(VirtualMachineInstanceMigrations, {
        metadata: { name, namespace: ns },
        spec: { vmiName: 'm1' },
      } as KubeObject);
      const status = await waitFor(
        `${name} final`,
        async () => {
          const st = (await client.get<KubeObject>(VirtualMachineInstanceMigrations, name, ns)).status as
            { phase?: string; migrationState?: { failureReason?: string } } | undefined;
          return st?.phase === 'Succeeded' || st?.phase === 'Failed' ? st : undefined;
        },
        30_000,
      );
      if (status.phase === 'Succeeded') break;
      expect(status.migrationState?.failureReason).toMatch(/^no source pod$|is not running$/);
      expect(attempt).toBeLessThan(5);
      await new Promise((r) => setTimeout(r, 200));
    }
    const c = await networkReady(
      'NetworkReady on the target',
      (x) => x.status === 'True' && !x.message?.endsWith(`served on ${source}`),
    );
    const target = await vmiNode();
    expect(target).not.toBe(source);
    expect(c.message).toBe(`${c.ip} served on ${target}`);
  });

  it('surfaces IPMismatch when OVN-Kubernetes gives the restarted VM another IP', async () => {
    standIn.network = 'default'; // requested `ips` ignored, as on the cluster default network
    await sim.restartVm(ns, 'm1');
    const c = await networkReady('NetworkReady IPMismatch', (x) => x.reason === 'IPMismatch');
    expect(c.status).toBe('False');
    expect(c.message).toMatch(
      new RegExp(`gave pod \\S+ on \\S+ 10\\.128\\.\\d+\\.\\d+, the claim is ${c.ip}`),
    );
  });
});
