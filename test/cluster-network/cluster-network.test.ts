// The cluster network controller through the real API server. Exposure: a KubevirtCluster's `spec.network.services` become infra
// Services whose EndpointSlices hold the VMs' stable IPs, follow the machines (IP bound, ready,
// migrated, deleted) and the spec (entries removed), report what the API server allocated, and never
// take over another's Service. Then the pool's usage, the isolation state and the summary.
// Machines' network status, claims and addresses are written here as the machine controller and the
// pool provider would: this suite proves the cluster network controller alone.
import { isDeepStrictEqual } from 'node:util';
import { KubevirtClusters, KubevirtMachines, type KubevirtCluster } from '../../src/capk/resources.js';
import {
  addClusterNetworkController,
  CLUSTER_NETWORK_FINALIZER,
  EndpointSlices,
  Services,
  type EndpointSlice,
  type Service,
} from '../../src/controllers/cluster-network/index.js';
import { IPAddressClaims, IPAddresses, type IPAddress, type IPAddressClaim } from '../../src/ipam/index.js';
import { CoreEvents, getCondition, Manager, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';

const kc = testKubeConfig();
let ns: string;
let client: RestClient;
let mgr: Manager;

beforeAll(async () => {
  ns = await createTestNamespace(kc, 'exposure');
  client = new RestClient(kc);
  mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  addClusterNetworkController(mgr);
  await mgr.start();
});

afterAll(async () => {
  await mgr.stop();
  client.close();
});

const api = { name: 'api', type: 'NodePort', role: 'control-plane', ports: [{ name: 'https', port: 6443 }] };
const ingress = {
  name: 'ingress',
  type: 'LoadBalancer',
  ports: [
    { name: 'http', port: 80, targetPort: 30080 },
    { name: 'https', port: 443, nodePort: 31443 },
  ],
};

async function createCluster(name: string, services: object[]): Promise<void> {
  await client.create(KubevirtClusters, {
    metadata: { name, namespace: ns },
    spec: { network: { ipam: { cidrs: ['10.70.0.0/24'] }, services } },
  } as KubeObject);
}

/** A machine of the cluster, with the network status the machine controller writes once it is served. */
async function createMachine(
  cluster: string,
  name: string,
  o: { controlPlane?: boolean; ipv4?: string; node?: string; ready?: boolean },
): Promise<void> {
  await client.create(KubevirtMachines, {
    metadata: {
      name,
      namespace: ns,
      labels: {
        'cluster.x-k8s.io/cluster-name': cluster,
        ...(o.controlPlane ? { 'cluster.x-k8s.io/control-plane': '' } : {}),
      },
    },
    spec: {},
  } as KubeObject);
  if (o.ipv4) await setMachineNetwork(name, o.ipv4, o.node!, o.ready ?? true);
}

async function setMachineNetwork(name: string, ipv4: string, node: string, ready: boolean): Promise<void> {
  await client.patch(
    KubevirtMachines,
    name,
    ns,
    {
      status: {
        network: { ipv4, node, phase: ready ? 'Ready' : 'Pending' },
        conditions: [
          {
            type: 'NetworkReady',
            status: ready ? 'True' : 'False',
            reason: ready ? 'Ready' : 'Pending',
            message: ready ? `served on ${node}` : 'waiting',
            lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
        ],
      },
    },
    { subresource: 'status' },
  );
}

const endpointsOf = async (name: string) =>
  (await client.tryGet<EndpointSlice>(EndpointSlices, name, ns))?.endpoints?.map(
    (e) => `${e.addresses[0]}@${e.nodeName}${e.conditions.ready ? '' : ' (not ready)'}`,
  );

async function waitForEndpoints(name: string, want: string[]): Promise<void> {
  await waitFor(
    `${name} endpoints ${want.join(', ')}`,
    async () => (JSON.stringify(await endpointsOf(name)) === JSON.stringify(want) ? true : undefined),
    20_000,
  );
}

it('exposes the control plane and the workers by their stable IPs, and follows the machines', async () => {
  await createCluster('c1', [api, ingress]);
  await createMachine('c1', 'c1-cp-0', { controlPlane: true, ipv4: '10.70.0.2', node: 'n1' });
  await createMachine('c1', 'c1-w-0', { ipv4: '10.70.0.3', node: 'n2' });
  await createMachine('c1', 'c1-w-1', {});

  await waitForEndpoints('c1-api', ['10.70.0.2@n1']);
  await waitForEndpoints('c1-ingress', ['10.70.0.3@n2']);
  const svc = await client.get<Service>(Services, 'c1-ingress', ns);
  expect(svc.spec).not.toHaveProperty('selector');
  expect(svc.spec?.type).toBe('LoadBalancer');
  expect(svc.spec?.ports).toMatchObject([
    { name: 'http', port: 80, targetPort: 30080 },
    { name: 'https', port: 443, targetPort: 443, nodePort: 31443 },
  ]);
  const slice = await client.get<EndpointSlice>(EndpointSlices, 'c1-ingress', ns);
  expect(slice.metadata.labels?.['kubernetes.io/service-name']).toBe('c1-ingress');
  expect(slice.ports).toEqual(
    expect.arrayContaining([
      { name: 'http', protocol: 'TCP', port: 30080 },
      { name: 'https', protocol: 'TCP', port: 443 },
    ]),
  );

  // The status reports what the API server allocated; ServicesReady; the finalizer guards cleanup.
  const c = await waitFor(
    'cluster status',
    async () => {
      const c = await client.get<KubevirtCluster>(KubevirtClusters, 'c1', ns);
      return getCondition(c, 'ServicesReady')?.status === 'True' ? c : undefined;
    },
    20_000,
  );
  const status = c.status?.network as {
    services: { name: string; clusterIP?: string; ports: { nodePort?: number }[] }[];
  };
  const apiSvc = await client.get<Service>(Services, 'c1-api', ns);
  expect(status.services.map((s) => s.name)).toEqual(['api', 'ingress']);
  expect(status.services[0]!.clusterIP).toBe(apiSvc.spec?.clusterIP);
  expect(status.services[0]!.ports[0]!.nodePort).toBe(apiSvc.spec?.ports?.[0]?.nodePort);
  expect(status.services[0]!.ports[0]!.nodePort).toBeGreaterThanOrEqual(30000);
  expect(c.metadata.finalizers).toContain(CLUSTER_NETWORK_FINALIZER);

  // A second worker is served; the first live-migrates (same IP, another node); one is not ready.
  await setMachineNetwork('c1-w-1', '10.70.0.4', 'n1', true);
  await setMachineNetwork('c1-w-0', '10.70.0.3', 'n3', true);
  await waitForEndpoints('c1-ingress', ['10.70.0.3@n3', '10.70.0.4@n1']);
  await setMachineNetwork('c1-w-1', '10.70.0.4', 'n1', false);
  await waitForEndpoints('c1-ingress', ['10.70.0.3@n3', '10.70.0.4@n1 (not ready)']);

  // capk's own API-server Service (what it points controlPlaneEndpoint at) selects launcher pods,
  // which have no IP here: a slice of ours beside it gives it the control-plane VM.
  await client.create(Services, {
    metadata: { name: 'c1-lb', namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } },
    spec: {
      type: 'ClusterIP',
      ports: [{ port: 6443, protocol: 'TCP', targetPort: 6443 }],
      selector: { 'cluster.x-k8s.io/role': 'control-plane', 'cluster.x-k8s.io/cluster-name': 'c1' },
    },
  } as KubeObject);
  await waitForEndpoints('c1-lb-capk-podnet', ['10.70.0.2@n1']);
  const capkSlice = await client.get<EndpointSlice>(EndpointSlices, 'c1-lb-capk-podnet', ns);
  expect(capkSlice.metadata.labels?.['kubernetes.io/service-name']).toBe('c1-lb');
  expect(capkSlice.ports).toEqual([{ name: '', protocol: 'TCP', port: 6443 }]);
  // capk's Service itself is left as capk made it.
  expect((await client.get<Service>(Services, 'c1-lb', ns)).metadata.ownerReferences).toBeUndefined();

  // A machine deleted is no endpoint any more.
  await client.delete(KubevirtMachines, 'c1-w-1', ns);
  await waitForEndpoints('c1-ingress', ['10.70.0.3@n3']);
  // The control plane's Service never saw the workers.
  expect(await endpointsOf('c1-api')).toEqual(['10.70.0.2@n1']);
});

it('removes the Service of an entry taken off the spec, and everything with the cluster', async () => {
  // c1 holds node port 31443.
  const ingress2 = { ...ingress, ports: [{ name: 'http', port: 80 }] };
  await createCluster('c2', [api, ingress2]);
  await createMachine('c2', 'c2-w-0', { ipv4: '10.70.0.3', node: 'n2' });
  await waitForEndpoints('c2-ingress', ['10.70.0.3@n2']);
  await waitFor('c2-api', async () => client.tryGet(Services, 'c2-api', ns), 20_000);

  await client.patch(KubevirtClusters, 'c2', ns, { spec: { network: { services: [api] } } });
  await waitFor(
    'c2-ingress gone',
    async () =>
      !(await client.tryGet(Services, 'c2-ingress', ns)) &&
      !(await client.tryGet(EndpointSlices, 'c2-ingress', ns))
        ? true
        : undefined,
    20_000,
  );
  const c = await waitFor(
    'status without ingress',
    async () => {
      const c = await client.get<KubevirtCluster>(KubevirtClusters, 'c2', ns);
      const names = (c.status?.network as { services?: { name: string }[] } | undefined)?.services?.map(
        (s) => s.name,
      );
      return JSON.stringify(names) === '["api"]' ? c : undefined;
    },
    20_000,
  );
  expect(getCondition(c, 'ServicesReady')?.status).toBe('True');

  // No garbage collector runs here: the finalizer is what removes them with the cluster.
  await client.delete(KubevirtClusters, 'c2', ns);
  await waitFor(
    'cluster and its Service gone',
    async () =>
      !(await client.tryGet(KubevirtClusters, 'c2', ns)) && !(await client.tryGet(Services, 'c2-api', ns))
        ? true
        : undefined,
    20_000,
  );
});

it("reports another's Service under the name and a node port outside the range, and leaves both alone", async () => {
  await client.create(Services, {
    metadata: { name: 'c3-api', namespace: ns },
    spec: { type: 'ClusterIP', ports: [{ port: 8080 }], selector: { app: 'theirs' } },
  } as KubeObject);
  // Someone's own endpoints under the name of an entry's slice.
  await client.create(EndpointSlices, {
    metadata: { name: 'c3-sliced', namespace: ns, labels: { 'kubernetes.io/service-name': 'theirs' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['192.0.2.7'] }],
    ports: [{ port: 80, protocol: 'TCP' }],
  } as KubeObject);
  await client.create(Services, {
    metadata: { name: 'theirs-np', namespace: ns },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31999 }] },
  } as KubeObject);
  await createCluster('c3', [
    api,
    { name: 'np', type: 'NodePort', role: 'worker', ports: [{ port: 80, nodePort: 31999 }] },
    { name: 'low', type: 'NodePort', role: 'worker', ports: [{ port: 80, nodePort: 80 }] },
    { name: 'web', role: 'worker', ports: [{ port: 80 }] },
    { name: 'sliced', role: 'worker', ports: [{ port: 80 }] },
  ]);
  const c = await waitFor(
    'ServicesReady False',
    async () => {
      const c = await client.get<KubevirtCluster>(KubevirtClusters, 'c3', ns);
      return getCondition(c, 'ServicesReady')?.status === 'False' ? c : undefined;
    },
    20_000,
  );
  const cond = getCondition(c, 'ServicesReady')!;
  expect(cond.reason).toBe('NodePortOutOfRange');
  expect(cond.message).toContain('spec.network.services[2].ports[0].nodePort');
  expect(cond.message).toContain('Service c3-api exists and is not this cluster');
  expect(cond.message).toContain('EndpointSlice c3-sliced exists and is not this cluster');
  expect(await client.tryGet(Services, 'c3-sliced', ns)).toBeUndefined();
  expect((await client.get<EndpointSlice>(EndpointSlices, 'c3-sliced', ns)).endpoints[0]!.addresses).toEqual([
    '192.0.2.7',
  ]);
  // The API server refused the node port another Service holds: its words, named by entry.
  expect(cond.message).toMatch(/service np: .*31999.*already allocated/);
  // Theirs is untouched, the bad entry made nothing, the good one is served.
  const theirs = await client.get<Service>(Services, 'c3-api', ns);
  expect(theirs.spec?.ports?.[0]?.port).toBe(8080);
  expect(theirs.metadata.ownerReferences).toBeUndefined();
  expect(await client.tryGet(Services, 'c3-low', ns)).toBeUndefined();
  await waitFor('c3-web', async () => client.tryGet(Services, 'c3-web', ns), 20_000);
  const events = await waitFor(
    'a Warning event',
    async () => {
      const l = await client.list<KubeObject & { reason?: string; involvedObject?: { name?: string } }>(
        CoreEvents,
        {
          namespace: ns,
        },
      );
      const mine = l.items.filter(
        (e) => e.involvedObject?.name === 'c3' && e.reason === 'NodePortOutOfRange',
      );
      return mine.length ? mine : undefined;
    },
    20_000,
  );
  expect(events).toHaveLength(1);
});

it('leaves a cluster without spec.network alone', async () => {
  await client.create(KubevirtClusters, { metadata: { name: 'c4', namespace: ns }, spec: {} } as KubeObject);
  await createMachine('c4', 'c4-w-0', {});
  // Give the controller the events; then nothing of ours may be on it.
  await new Promise((r) => setTimeout(r, 1_500));
  const c = await client.get<KubevirtCluster>(KubevirtClusters, 'c4', ns);
  expect(c.metadata.finalizers ?? []).not.toContain(CLUSTER_NETWORK_FINALIZER);
  expect(getCondition(c, 'ServicesReady')).toBeUndefined();
});

describe('pool usage, isolation and the summary', () => {
  const poolRef = { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'KubevirtCluster', name: 'c5' };
  const conditionsOf = async (name: string) => {
    const c = await client.get<KubevirtCluster>(KubevirtClusters, name, ns);
    return Object.fromEntries((c.status?.conditions ?? []).map((x) => [x.type, `${x.status} ${x.reason}`]));
  };
  const claim = (name: string) =>
    client.create<IPAddressClaim>(IPAddressClaims, {
      metadata: { name, namespace: ns },
      spec: { poolRef },
    } as IPAddressClaim);
  /** An address for the claim, and the claim bound to it, as the pool provider leaves them. */
  const address = async (claim: string, ip: string) => {
    const name = `c5-${ip.replaceAll('.', '-')}`;
    await client.create<IPAddress>(IPAddresses, {
      metadata: { name, namespace: ns },
      spec: { address: ip, prefix: 30, claimRef: { name: claim }, poolRef },
    } as IPAddress);
    await client.patch(
      IPAddressClaims,
      claim,
      ns,
      { status: { addressRef: { name } } },
      { subresource: 'status' },
    );
  };

  it('counts the addresses of the pool, reports it exhausted while a claim waits, and says Strict is not enforced', async () => {
    // A /30 hands out two addresses.
    await client.create(KubevirtClusters, {
      metadata: { name: 'c5', namespace: ns },
      spec: { network: { ipam: { cidrs: ['10.71.0.0/30'] }, isolation: { mode: 'Disabled' } } },
    } as KubeObject);
    const usage = async () =>
      (
        (await client.get<KubevirtCluster>(KubevirtClusters, 'c5', ns)).status?.network as
          { ipam?: object } | undefined
      )?.ipam;
    await waitFor(
      'empty pool',
      async () => (isDeepStrictEqual(await usage(), { size: 2, allocated: 0, free: 2 }) ? true : undefined),
      20_000,
    );
    expect(await conditionsOf('c5')).toMatchObject({
      IPAMReady: 'True Ready',
      IsolationReady: 'True Ready',
      ServicesReady: 'True Ready',
      NetworkReady: 'True Ready',
    });

    await claim('m1');
    await claim('m2');
    await address('m1', '10.71.0.1');
    await address('m2', '10.71.0.2');
    await waitFor(
      'full pool',
      async () => (isDeepStrictEqual(await usage(), { size: 2, allocated: 2, free: 0 }) ? true : undefined),
      20_000,
    );
    expect((await conditionsOf('c5')).IPAMReady).toBe('True Ready');
    await claim('m3');
    await waitFor(
      'exhausted',
      async () => ((await conditionsOf('c5')).IPAMReady === 'False PoolExhausted' ? true : undefined),
      20_000,
    );
    expect((await conditionsOf('c5')).NetworkReady).toBe('False PoolExhausted');

    // Strict (the default) is not enforced by this version: the cluster says so.
    await client.patch(KubevirtClusters, 'c5', ns, { spec: { network: { isolation: { mode: 'Strict' } } } });
    await client.delete(IPAddressClaims, 'm3', ns);
    await waitFor(
      'isolation not enforced',
      async () => {
        const c = await conditionsOf('c5');
        return c.IsolationReady === 'False IsolationNotEnforced' && c.IPAMReady === 'True Ready'
          ? c
          : undefined;
      },
      20_000,
    );
    expect((await conditionsOf('c5')).NetworkReady).toBe('False IsolationNotEnforced');
  });
});
