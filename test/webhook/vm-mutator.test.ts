// The VirtualMachine mutating webhook, called by the real API server over TLS: capk's VMs are shaped
// (bridge binding, stable MAC, live-migration opt-in) before they can ever start, or refused while
// the machine has no address yet; other VMs pass untouched.
import { KubevirtMachines } from '../../src/capk/resources.js';
import { macForIPv4 } from '../../src/controllers/machine-network/desired.js';
import {
  addInClusterPoolProvider,
  IPAddressClaims,
  IPAddresses,
  KubevirtClusters,
  type IPAddress,
  type IPAddressClaim,
} from '../../src/ipam/index.js';
import { VirtualMachines, type VirtualMachine } from '../../src/kubevirt/resources.js';
import { Manager, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { serveVmWebhook, type VmWebhook } from '../env/webhook.js';

const kc = testKubeConfig();
const client = new RestClient(kc);

describe('VirtualMachine mutating webhook (real API server → TLS → manager)', () => {
  let ns: string;
  let mgr: Manager;
  let webhook: VmWebhook;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'webhook');
    mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
    addInClusterPoolProvider(mgr);
    webhook = await serveVmWebhook(kc, mgr, ns);
    await mgr.start();
    await client.create(KubevirtClusters, {
      metadata: { name: 'c1', namespace: ns },
      spec: { network: { ipam: { cidrs: ['10.60.0.0/24'] } } },
    } as KubeObject);
    await client.create(KubevirtMachines, {
      metadata: { name: 'm1', namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
      spec: {},
    } as KubeObject);
  });

  afterAll(async () => {
    await webhook?.stop();
    await mgr?.stop();
    client.close();
  });

  const capkVm = (
    name: string,
    machine: string,
    spec: VirtualMachine['spec'] = { runStrategy: 'Always', template: { spec: { domain: { devices: {} } } } },
  ): VirtualMachine => ({
    metadata: {
      name,
      namespace: ns,
      labels: {
        'capk.cluster.x-k8s.io/kubevirt-machine-name': machine,
        'capk.cluster.x-k8s.io/kubevirt-machine-namespace': ns,
      },
    },
    spec,
  });

  it('refuses a machine VM until the machine has an address, then shapes it', async () => {
    await expect(client.create(VirtualMachines, capkVm('m1', 'm1'))).rejects.toThrow(
      /has no stable address yet/,
    );

    await client.create<IPAddressClaim>(IPAddressClaims, {
      metadata: { name: 'm1', namespace: ns },
      spec: { poolRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'KubevirtCluster', name: 'c1' } },
    });
    const address = await waitFor(
      'claim bound and cached',
      async () => {
        const ref = (await client.get<IPAddressClaim>(IPAddressClaims, 'm1', ns)).status?.addressRef?.name;
        return ref ? (await client.get<IPAddress>(IPAddresses, ref, ns)).spec.address : undefined;
      },
      20_000,
    );
    // capk retries; the webhook answers from the manager's caches, which follow shortly.
    const vm = await waitFor(
      'VM admitted',
      () => client.create<VirtualMachine>(VirtualMachines, capkVm('m1', 'm1')),
      10_000,
      200,
    );
    const t = vm.spec!.template!;
    expect(t.metadata?.annotations).toEqual({ 'kubevirt.io/allow-pod-bridge-network-live-migration': '' });
    expect(t.spec?.networks).toEqual([{ name: 'default', pod: {} }]);
    expect(t.spec?.domain?.devices?.interfaces).toEqual([
      { name: 'default', bridge: {}, macAddress: macForIPv4(address) },
    ]);

    // An update that drops the MAC gets it back.
    const stripped = structuredClone(vm);
    stripped.spec!.template!.spec!.domain!.devices!.interfaces = [{ name: 'default', bridge: {} }];
    const updated = await client.update<VirtualMachine>(VirtualMachines, stripped);
    expect(updated.spec!.template!.spec!.domain!.devices!.interfaces![0]!.macAddress).toBe(
      macForIPv4(address),
    );
  });

  it('refuses a machine VM whose interface cannot keep a stable IP', async () => {
    const masquerade = capkVm('m1-masq', 'm1', {
      template: {
        spec: {
          networks: [{ name: 'default', pod: {} }],
          domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } },
        },
      },
    });
    await expect(client.create(VirtualMachines, masquerade)).rejects.toThrow(/masquerade binding/);
  });

  it('leaves VMs that are not capk machines alone', async () => {
    const plain: VirtualMachine = {
      metadata: { name: 'plain', namespace: ns },
      spec: { runStrategy: 'Halted', template: { spec: { domain: { devices: {} } } } },
    };
    const created = await client.create<VirtualMachine>(VirtualMachines, plain);
    expect(created.spec?.template?.metadata?.annotations).toBeUndefined();
    expect(created.spec?.template?.spec?.networks).toBeUndefined();
  });
});
