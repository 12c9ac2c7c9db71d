import { clusterNetworkSpec, type NetworkService } from '../../api/network.js';
import type { KubevirtMachine } from '../../capk/resources.js';
import {
  capkControlPlaneSlice,
  covers,
  desiredExposure,
  exposedMachine,
  serviceStatus,
  type ExposedMachine,
} from './exposure.js';

const owner = {
  apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
  kind: 'KubevirtCluster',
  name: 'c',
  uid: 'u1',
  controller: true,
};
const cluster = { namespace: 'ns', name: 'c', owner };

/** A services entry as the API hands it over, defaults applied. */
function service(s: object): NetworkService {
  return clusterNetworkSpec.parse({ ipam: { cidrs: ['10.70.0.0/24'] }, services: [s] }).services![0]!;
}

const vm = (name: string, o: Partial<ExposedMachine> = {}): ExposedMachine => ({
  name,
  role: 'worker',
  ready: true,
  terminating: false,
  ...o,
});

describe('desiredExposure', () => {
  const ingress = service({
    name: 'ingress',
    type: 'LoadBalancer',
    ports: [
      { name: 'http', port: 80, targetPort: 30080 },
      { name: 'https', port: 443 },
    ],
    externalTrafficPolicy: 'Local',
    annotations: { 'lb.example/pool': 'public' },
  });

  it('makes a selector-less Service named <cluster>-<name>, owned by the cluster', () => {
    const { service: svc } = desiredExposure(cluster, ingress, []);
    expect(svc.metadata).toMatchObject({
      name: 'c-ingress',
      namespace: 'ns',
      ownerReferences: [owner],
      labels: { 'network.capk-podnet.io/cluster': 'c', 'network.capk-podnet.io/service': 'ingress' },
      annotations: { 'lb.example/pool': 'public' },
    });
    expect(svc.spec).toEqual({
      type: 'LoadBalancer',
      ports: [
        { name: 'http', protocol: 'TCP', port: 80, targetPort: 30080 },
        { name: 'https', protocol: 'TCP', port: 443, targetPort: 443 },
      ],
      externalTrafficPolicy: 'Local',
    });
    expect(svc.spec).not.toHaveProperty('selector');
  });

  it("lists the role's VMs by stable IP and current node, in name order; VMs without an IP are left out", () => {
    const { slice } = desiredExposure(cluster, ingress, [
      vm('w-2', { ipv4: '10.70.0.4', node: 'n2' }),
      vm('cp-0', { role: 'control-plane', ipv4: '10.70.0.2', node: 'n1' }),
      vm('w-1', { ipv4: '10.70.0.3', node: 'n3', uid: 'm1' }),
      vm('w-3'),
    ]);
    expect(slice.metadata.labels).toMatchObject({
      'kubernetes.io/service-name': 'c-ingress',
      'endpointslice.kubernetes.io/managed-by': 'network.capk-podnet.io',
    });
    // Slice ports carry the Service port's name and the port the VM listens on.
    expect(slice.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 30080 },
      { name: 'https', protocol: 'TCP', port: 443 },
    ]);
    expect(slice.endpoints.map((e) => [e.addresses[0], e.nodeName])).toEqual([
      ['10.70.0.3', 'n3'],
      ['10.70.0.4', 'n2'],
    ]);
    expect(slice.endpoints[0]!.targetRef).toEqual({
      kind: 'KubevirtMachine',
      namespace: 'ns',
      name: 'w-1',
      uid: 'm1',
    });
  });

  it('marks a VM whose network is not ready as not ready, and a deleted one as terminating but serving', () => {
    const api = service({
      name: 'api',
      role: 'control-plane',
      type: 'NodePort',
      ports: [{ port: 6443, nodePort: 30443 }],
    });
    const { service: svc, slice } = desiredExposure(cluster, api, [
      vm('cp-0', { role: 'control-plane', ipv4: '10.70.0.2', ready: false }),
      vm('cp-1', { role: 'control-plane', ipv4: '10.70.0.3', terminating: true }),
    ]);
    expect(svc.spec?.ports).toEqual([{ protocol: 'TCP', port: 6443, targetPort: 6443, nodePort: 30443 }]);
    expect(slice.ports).toEqual([{ name: '', protocol: 'TCP', port: 6443 }]);
    expect(slice.endpoints.map((e) => e.conditions)).toEqual([
      { ready: false, serving: false, terminating: false },
      { ready: false, serving: true, terminating: true },
    ]);
  });
});

describe('capkControlPlaneSlice', () => {
  it("gives capk's selector Service the control-plane VMs on its own ports, under its name", () => {
    const slice = capkControlPlaneSlice(
      cluster,
      {
        metadata: { name: 'c-lb', namespace: 'ns' },
        spec: { ports: [{ port: 6443, protocol: 'TCP', targetPort: 6443 }], selector: { a: 'b' } },
      },
      [
        vm('cp-0', { role: 'control-plane', ipv4: '10.70.0.2', node: 'n1' }),
        vm('w-0', { ipv4: '10.70.0.3' }),
      ],
    );
    expect(slice.metadata.name).toBe('c-lb-capk-podnet');
    expect(slice.metadata.labels).toMatchObject({
      'kubernetes.io/service-name': 'c-lb',
      'endpointslice.kubernetes.io/managed-by': 'network.capk-podnet.io',
      'network.capk-podnet.io/service': 'capk.control-plane',
    });
    expect(slice.metadata.ownerReferences).toEqual([owner]);
    expect(slice.ports).toEqual([{ name: '', protocol: 'TCP', port: 6443 }]);
    expect(slice.endpoints.map((e) => e.addresses[0])).toEqual(['10.70.0.2']);
  });
});

describe('exposedMachine', () => {
  const machine = (labels: Record<string, string>, ready: string): KubevirtMachine =>
    ({
      metadata: { name: 'm', namespace: 'ns', uid: 'u', labels },
      status: {
        network: { ipv4: '10.70.0.9', node: 'n2' },
        conditions: [{ type: 'NetworkReady', status: ready, lastTransitionTime: '2026-01-01T00:00:00Z' }],
      },
    }) as KubevirtMachine;

  it("reads the role from KubeadmControlPlane's label, the IP, node and readiness from the machine's status", () => {
    expect(exposedMachine(machine({ 'cluster.x-k8s.io/control-plane': '' }, 'True'))).toEqual({
      name: 'm',
      uid: 'u',
      role: 'control-plane',
      ipv4: '10.70.0.9',
      node: 'n2',
      ready: true,
      terminating: false,
    });
    expect(exposedMachine(machine({ 'cluster.x-k8s.io/deployment-name': 'md-0' }, 'False'))).toMatchObject({
      role: 'worker',
      ready: false,
    });
  });
});

describe('serviceStatus', () => {
  it('reports the cluster IP, the allocated node ports and the load balancer ingress', () => {
    expect(
      serviceStatus('ingress', {
        metadata: { name: 'c-ingress' },
        spec: {
          clusterIP: '10.96.3.4',
          ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 31000 }],
        },
        status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } },
      }),
    ).toEqual({
      name: 'ingress',
      serviceName: 'c-ingress',
      clusterIP: '10.96.3.4',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 31000 }],
      loadBalancer: { ingress: [{ ip: '192.0.2.10' }] },
    });
    expect(serviceStatus('api', undefined)).toEqual({ name: 'api' });
  });
});

describe('covers', () => {
  it('ignores what the server added, and sees any change of what was asked', () => {
    const want = { spec: { ports: [{ port: 80, targetPort: 80 }] } };
    expect(
      covers(
        { spec: { clusterIP: '10.96.0.5', ports: [{ port: 80, targetPort: 80, nodePort: 31000 }] } },
        want,
      ),
    ).toBe(true);
    expect(covers({ spec: { ports: [{ port: 80, targetPort: 81 }] } }, want)).toBe(false);
    expect(covers({ spec: { ports: [{ port: 80, targetPort: 80 }, { port: 81 }] } }, want)).toBe(false);
    expect(covers(undefined, want)).toBe(false);
    // An EndpointSlice without endpoints comes back with `endpoints: null`.
    expect(covers({ endpoints: null }, { endpoints: [] })).toBe(true);
    expect(covers({ endpoints: null }, { endpoints: [{ addresses: ['10.70.0.2'] }] })).toBe(false);
  });
});
