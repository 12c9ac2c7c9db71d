// Exposure: the infra Services of a tenant cluster's `spec.network.services`, and the EndpointSlices
// that give them its VMs' stable IPs. Pure: the cluster and its machines in, the objects out.
//
// The Services have no selector. A virt-launcher pod carries no IP here (its VM leases the stable IP
// by DHCP from its OVN port), so a selector would find no endpoints. The endpoints are the VMs' own
// IPs, which a live migration keeps: a migration changes only an endpoint's nodeName. HyperShift's
// KubeVirt platform exposes its guests' ingress the same way.
import type { ClusterNetworkStatus, NetworkService } from '../../api/network.js';
import { NetworkConditions } from '../../api/conditions.js';
import type { KubevirtMachine } from '../../capk/resources.js';
import {
  getCondition,
  isDeleting,
  type KubeObject,
  type OwnerReference,
  type ResourceRef,
} from '../../runtime/index.js';

export const ExposureLabels = {
  /** The KubevirtCluster whose Service or EndpointSlice this is (what the controller's caches select). */
  cluster: 'network.capk-podnet.io/cluster',
  /** The `spec.network.services[].name` it realises. */
  service: 'network.capk-podnet.io/service',
} as const;

/** EndpointSlice's `endpointslice.kubernetes.io/managed-by`: the EndpointSlice controller leaves these alone. */
export const ENDPOINT_SLICE_MANAGER = 'network.capk-podnet.io';

/** Where capk's control-plane machines are told apart: KubeadmControlPlane labels its infra machines. */
export const CONTROL_PLANE_LABEL = 'cluster.x-k8s.io/control-plane';

export interface Service extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    ports?: {
      name?: string;
      protocol?: string;
      port: number;
      targetPort?: number | string;
      nodePort?: number;
    }[];
    externalTrafficPolicy?: string;
    loadBalancerClass?: string;
    selector?: Record<string, string>;
    [k: string]: unknown;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4';
  ports: { name: string; protocol: string; port: number }[];
  endpoints: {
    addresses: string[];
    conditions: { ready: boolean; serving: boolean; terminating: boolean };
    nodeName?: string;
    targetRef?: { kind: string; namespace: string; name: string; uid?: string };
  }[];
}

/** What exposure needs of one machine. */
export interface ExposedMachine {
  name: string;
  uid?: string;
  role: NetworkService['role'];
  /** The stable IP, once the machine controller assigned it. */
  ipv4?: string;
  /** The infra node that runs the VM now (for externalTrafficPolicy: Local). */
  node?: string;
  /** The VM's network is programmed where it runs (NetworkReady). */
  ready: boolean;
  terminating: boolean;
}

export function exposedMachine(m: KubevirtMachine): ExposedMachine {
  const network = m.status?.network;
  return {
    name: m.metadata.name,
    ...(m.metadata.uid ? { uid: m.metadata.uid } : {}),
    role: m.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined ? 'control-plane' : 'worker',
    ...(network?.ipv4 ? { ipv4: network.ipv4 } : {}),
    ...(network?.node ? { node: network.node } : {}),
    ready: getCondition(m, NetworkConditions.NetworkReady)?.status === 'True',
    terminating: isDeleting(m),
  };
}

export function serviceName(cluster: string, service: string): string {
  return `${cluster}-${service}`;
}

/** The Service and its EndpointSlice for one `spec.network.services` entry; both named `<cluster>-<name>`. */
export function desiredExposure(
  cluster: { namespace: string; name: string; owner: OwnerReference },
  service: NetworkService,
  machines: ExposedMachine[],
): { service: Service; slice: EndpointSlice } {
  const name = serviceName(cluster.name, service.name);
  const labels = { [ExposureLabels.cluster]: cluster.name, [ExposureLabels.service]: service.name };
  const meta = { name, namespace: cluster.namespace, ownerReferences: [cluster.owner] };
  const svc: Service = {
    metadata: {
      ...meta,
      labels,
      ...(service.annotations ? { annotations: { ...service.annotations } } : {}),
    },
    spec: {
      type: service.type,
      ports: service.ports.map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
      })),
      ...(service.externalTrafficPolicy ? { externalTrafficPolicy: service.externalTrafficPolicy } : {}),
      ...(service.loadBalancerClass ? { loadBalancerClass: service.loadBalancerClass } : {}),
    },
  };
  const slice: EndpointSlice = {
    metadata: {
      ...meta,
      labels: {
        ...labels,
        'kubernetes.io/service-name': name,
        'endpointslice.kubernetes.io/managed-by': ENDPOINT_SLICE_MANAGER,
      },
    },
    addressType: 'IPv4',
    // A slice port matches its Service port by name; the port is where the VM listens.
    ports: service.ports.map((p) => ({
      name: p.name ?? '',
      protocol: p.protocol,
      port: p.targetPort ?? p.port,
    })),
    endpoints: machines
      .filter((m) => m.role === service.role && m.ipv4 !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => ({
        addresses: [m.ipv4!],
        // A machine being deleted still serves until its VM is gone: connections drain.
        conditions: { ready: m.ready && !m.terminating, serving: m.ready, terminating: m.terminating },
        ...(m.node ? { nodeName: m.node } : {}),
        targetRef: {
          kind: 'KubevirtMachine',
          namespace: cluster.namespace,
          name: m.name,
          ...(m.uid ? { uid: m.uid } : {}),
        },
      })),
  };
  return { service: svc, slice };
}

/** capk's own API-server Service: `<CAPI cluster>-lb` (capk's pkg/loadbalancer). */
export function capkControlPlaneServiceName(capiCluster: string): string {
  return `${capiCluster}-lb`;
}

/** The ExposureLabels.service value of the slice for capk's Service: no services entry can be named so. */
export const CAPK_SERVICE_ENTRY = 'capk.control-plane';

/**
 * The EndpointSlice that gives capk's own API-server Service its endpoints. capk points the tenant's
 * controlPlaneEndpoint at that Service, which selects launcher pods; here they have no IP, so its
 * own slice stays empty. This one, beside it under the same `kubernetes.io/service-name`, lists the
 * control-plane VMs by stable IP on the Service's own ports (a service proxy reads every slice of a
 * Service).
 */
export function capkControlPlaneSlice(
  cluster: { namespace: string; name: string; owner: OwnerReference },
  capkService: Service,
  machines: ExposedMachine[],
): EndpointSlice {
  const entry: NetworkService = {
    name: CAPK_SERVICE_ENTRY,
    type: 'ClusterIP',
    role: 'control-plane',
    ports: (capkService.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      protocol: (p.protocol ?? 'TCP') as NetworkService['ports'][number]['protocol'],
      port: p.port,
      targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.port,
    })),
  };
  const { slice } = desiredExposure(cluster, entry, machines);
  const service = capkService.metadata.name;
  return {
    ...slice,
    metadata: {
      ...slice.metadata,
      name: `${service}-capk-podnet`,
      labels: { ...slice.metadata.labels, 'kubernetes.io/service-name': service },
    },
  };
}

/** `status.network.services[]` for one entry, read from the Service the API server holds. */
export function serviceStatus(
  name: string,
  svc: Service | undefined,
): NonNullable<ClusterNetworkStatus['services']>[number] {
  if (!svc) return { name };
  const ingress = svc.status?.loadBalancer?.ingress;
  return {
    name,
    serviceName: svc.metadata.name,
    ...(svc.spec?.clusterIP ? { clusterIP: svc.spec.clusterIP } : {}),
    ports: (svc.spec?.ports ?? []).map((p) => ({
      ...(p.name ? { name: p.name } : {}),
      ...(p.protocol ? { protocol: p.protocol } : {}),
      port: p.port,
      ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
    })),
    ...(ingress?.length
      ? {
          loadBalancer: {
            ingress: ingress.map((i) => ({
              ...(i.ip ? { ip: i.ip } : {}),
              ...(i.hostname ? { hostname: i.hostname } : {}),
            })),
          },
        }
      : {}),
  };
}

/**
 * True when every field of `desired` is in `actual` with the same value (arrays element by element):
 * what the server added (a cluster IP, an allocated node port, defaults) does not count as a change,
 * nor does an empty list it returns as null, so an unchanged exposure costs no write.
 */
export function covers(actual: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) {
    // The API server returns an empty list as null (an EndpointSlice without endpoints).
    const list = actual ?? [];
    return (
      Array.isArray(list) && list.length === desired.length && desired.every((d, i) => covers(list[i], d))
    );
  }
  if (desired !== null && typeof desired === 'object') {
    if (actual === null || typeof actual !== 'object') return false;
    return Object.entries(desired).every(([k, v]) => covers((actual as Record<string, unknown>)[k], v));
  }
  return actual === desired;
}

export const Services: ResourceRef = {
  group: '',
  version: 'v1',
  kind: 'Service',
  plural: 'services',
  namespaced: true,
};
export const EndpointSlices: ResourceRef = {
  group: 'discovery.k8s.io',
  version: 'v1',
  kind: 'EndpointSlice',
  plural: 'endpointslices',
  namespaced: true,
};
