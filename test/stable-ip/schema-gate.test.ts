// While capk's CRDs lack the network schema (an upgrade re-applied capk's own), the machine
// controller must not act: anything it wrote would be pruned. It says why and waits.
import { KubevirtClusters, KubevirtMachines, type KubevirtMachine } from '../../src/capk/resources.js';
import { addMachineNetworkController } from '../../src/controllers/machine-network/index.js';
import { IPAddressClaims } from '../../src/ipam/index.js';
import { OvnKubeDriver } from '../../src/network/ovnkube/index.js';
import { getCondition, Manager, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';

const kc = testKubeConfig();

it('holds with NetworkSchemaMissing while the schema is gone, and acts once it is back', async () => {
  const ns = await createTestNamespace(kc, 'schema-gate');
  const client = new RestClient(kc);
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  const schema = { ready: false };
  addMachineNetworkController(mgr, {
    driver: new OvnKubeDriver({ client: mgr.client }),
    defaults: { dnsServers: ['10.96.0.10'] },
    schemaReady: () => schema.ready,
  });
  await mgr.start();
  try {
    await client.create(KubevirtClusters, {
      metadata: { name: 'c', namespace: ns },
      spec: { network: { ipam: { cidrs: ['10.70.0.0/24'] } } },
    } as KubeObject);
    await client.create(KubevirtMachines, {
      metadata: { name: 'm', namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': 'c' } },
      spec: {},
    } as KubeObject);
    const held = await waitFor(
      'NetworkSchemaMissing',
      async () => {
        const m = await client.get<KubevirtMachine>(KubevirtMachines, 'm', ns);
        const c = getCondition(m, 'NetworkReady');
        return c?.reason === 'NetworkSchemaMissing' ? c : undefined;
      },
      20_000,
    );
    expect(held.status).toBe('False');
    expect(await client.tryGet(IPAddressClaims, 'm', ns)).toBeUndefined();

    schema.ready = true;
    // The next periodic retry acts: the claim appears.
    await waitFor(
      'claim created',
      async () => ((await client.tryGet(IPAddressClaims, 'm', ns)) ? true : undefined),
      20_000,
    );
  } finally {
    await mgr.stop();
    client.close();
  }
});
