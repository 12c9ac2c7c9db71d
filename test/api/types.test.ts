// The generated types against real objects: typed literals (checked by tsc in `npm run lint`)
// are created on the real API server, which must accept them as they are, and read back through
// the same types. The @ts-expect-error lines prove the known openapi-typescript traps are fixed:
// if a trap came back (metadata as Record<string, never>, int-or-string as unknown), the
// directive would be unused and tsc would fail.
import type * as k8s from '@kubernetes/client-node';
import type {
  Cluster,
  IPAddress,
  IPAddressClaim,
  KubevirtCluster,
  KubevirtMachine,
  KubevirtMachineTemplate,
  Machine,
  VirtualMachine,
  VirtualMachineInstanceMigration,
} from '@cluster-api-ts/types';
import { kubeJson } from '../../src/api/kube-json.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';

let kc: k8s.KubeConfig;
let ns: string;
beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'api-types');
});

const plural: Record<string, string> = {
  KubevirtCluster: 'kubevirtclusters',
  KubevirtMachine: 'kubevirtmachines',
  KubevirtMachineTemplate: 'kubevirtmachinetemplates',
  Cluster: 'clusters',
  Machine: 'machines',
  IPAddressClaim: 'ipaddressclaims',
  IPAddress: 'ipaddresses',
  VirtualMachine: 'virtualmachines',
  VirtualMachineInstanceMigration: 'virtualmachineinstancemigrations',
};

/** Creates the object and returns what the API server stored, typed as the input. */
async function roundTrip<T extends { apiVersion: string; kind: string; metadata?: k8s.V1ObjectMeta }>(
  obj: T,
): Promise<T> {
  const path = `/apis/${obj.apiVersion}/namespaces/${ns}/${plural[obj.kind]}`;
  await kubeJson(kc, { method: 'POST', path, body: obj });
  return kubeJson<T>(kc, { method: 'GET', path: `${path}/${obj.metadata!.name}` });
}

test('capk kinds with network fields', async () => {
  const cluster: KubevirtCluster = {
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'KubevirtCluster',
    metadata: { name: 'demo', labels: { 'cluster.x-k8s.io/cluster-name': 'demo' } },
    spec: {
      controlPlaneServiceTemplate: { metadata: { annotations: { a: 'b' } }, spec: { type: 'ClusterIP' } },
      network: {
        ipam: { cidrs: ['10.200.0.0/24'] },
        services: [{ name: 'ingress', type: 'NodePort', ports: [{ port: 443, targetPort: 30443 }] }],
      },
    },
  };
  const got = await roundTrip(cluster);
  expect(got.metadata?.labels).toEqual({ 'cluster.x-k8s.io/cluster-name': 'demo' });
  expect(got.spec?.network?.gateway).toEqual({ ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' });
  expect(got.spec?.network?.services?.[0]?.ports[0]).toEqual({
    port: 443,
    targetPort: 30443,
    protocol: 'TCP',
  });

  const machine: KubevirtMachine = {
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'KubevirtMachine',
    metadata: { name: 'demo-cp-0' },
    spec: {
      network: { ipv4: '10.200.0.10' },
      virtualMachineTemplate: {
        metadata: { namespace: ns },
        spec: {
          runStrategy: 'Always',
          template: {
            spec: {
              domain: {
                devices: { networkInterfaceMultiqueue: true },
                // int-or-string: a quantity as a string or a number.
                resources: { requests: { memory: '2Gi', cpu: 2 } },
              },
            },
          },
        },
      },
    },
  };
  const m = await roundTrip(machine);
  expect(m.spec?.network?.ipv4).toBe('10.200.0.10');
  expect(m.spec?.virtualMachineTemplate?.spec?.template?.spec?.domain.resources?.requests).toEqual({
    memory: '2Gi',
    cpu: 2,
  });

  const template: KubevirtMachineTemplate = {
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'KubevirtMachineTemplate',
    metadata: { name: 'demo-workers' },
    spec: { template: { spec: { network: {}, virtualMachineBootstrapCheck: { checkStrategy: 'none' } } } },
  };
  expect((await roundTrip(template)).spec?.template.spec?.virtualMachineBootstrapCheck?.checkStrategy).toBe(
    'none',
  );
});

test('Cluster API kinds', async () => {
  const cluster: Cluster = {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'demo' },
    spec: {
      clusterNetwork: { pods: { cidrBlocks: ['10.243.0.0/16'] } },
      infrastructureRef: {
        apiGroup: 'infrastructure.cluster.x-k8s.io',
        kind: 'KubevirtCluster',
        name: 'demo',
      },
    },
  };
  expect((await roundTrip(cluster)).spec?.infrastructureRef?.kind).toBe('KubevirtCluster');

  const machine: Machine = {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Machine',
    metadata: { name: 'demo-cp-0' },
    spec: {
      clusterName: 'demo',
      bootstrap: { dataSecretName: 'demo-cp-0-bootstrap' },
      infrastructureRef: {
        apiGroup: 'infrastructure.cluster.x-k8s.io',
        kind: 'KubevirtMachine',
        name: 'demo-cp-0',
      },
    },
  };
  expect((await roundTrip(machine)).spec.clusterName).toBe('demo');

  const claim: IPAddressClaim = {
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'demo-cp-0' },
    spec: { clusterName: 'demo', poolRef: { apiGroup: 'ipam.example.com', kind: 'Pool', name: 'nodes' } },
  };
  expect((await roundTrip(claim)).spec.poolRef.name).toBe('nodes');

  const address: IPAddress = {
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddress',
    metadata: { name: 'demo-cp-0' },
    spec: {
      address: '10.200.0.10',
      prefix: 24,
      claimRef: { name: 'demo-cp-0' },
      poolRef: { apiGroup: 'ipam.example.com', kind: 'Pool', name: 'nodes' },
    },
  };
  expect((await roundTrip(address)).spec.address).toBe('10.200.0.10');
});

test('KubeVirt kinds', async () => {
  const vm: VirtualMachine = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'demo-cp-0',
      annotations: { 'kubevirt.io/allow-pod-bridge-network-live-migration': '' },
    },
    spec: {
      runStrategy: 'Always',
      template: {
        metadata: { labels: { 'cluster.x-k8s.io/role': 'control-plane' } },
        spec: {
          domain: {
            devices: { interfaces: [{ name: 'default', bridge: {}, macAddress: '02:00:00:00:00:0a' }] },
            resources: { requests: { memory: '1Gi' } },
          },
          networks: [{ name: 'default', pod: {} }],
        },
      },
    },
  };
  const got = await roundTrip(vm);
  expect(got.spec.template.spec?.domain.devices.interfaces?.[0]?.macAddress).toBe('02:00:00:00:00:0a');

  const migration: VirtualMachineInstanceMigration = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceMigration',
    metadata: { name: 'demo-cp-0-move' },
    spec: { vmiName: 'demo-cp-0' },
  };
  expect((await roundTrip(migration)).spec.vmiName).toBe('demo-cp-0');
});

test('the openapi-typescript traps stay fixed (checked by tsc)', () => {
  const cluster: KubevirtCluster = {
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'KubevirtCluster',
    // @ts-expect-error metadata is V1ObjectMeta: name is a string
    metadata: { name: 1 },
  };
  const requests: NonNullable<
    NonNullable<NonNullable<VirtualMachine['spec']['template']['spec']>['domain']['resources']>['requests']
  > = {
    memory: '1Gi',
    cpu: 1,
    // @ts-expect-error int-or-string is number | string, not unknown
    storage: true,
  };
  // Objects with preserve-unknown-fields take any member (not Record<string, never>).
  const vmMeta: NonNullable<NonNullable<KubevirtMachine['spec']>['virtualMachineTemplate']>['metadata'] = {
    labels: { a: 'b' },
  };
  expect([cluster.kind, Object.keys(requests).length, vmMeta]).toEqual([
    'KubevirtCluster',
    3,
    { labels: { a: 'b' } },
  ]);
});
