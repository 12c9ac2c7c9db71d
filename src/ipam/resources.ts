// The Cluster API IPAM contract's kinds (ipam.cluster.x-k8s.io/v1beta2) as capk-podnet uses them,
// and the pool kind of the in-cluster provider: a KubevirtCluster whose spec.network.ipam.cidrs is
// the pool, so a tenant cluster's node range lives on the object that declares it.
import { KubevirtClusters } from '../capk/resources.js';
import type { Condition, KubeObject, ResourceRef } from '../runtime/index.js';

export const IPAddressClaims: ResourceRef = {
  group: 'ipam.cluster.x-k8s.io',
  version: 'v1beta2',
  kind: 'IPAddressClaim',
  plural: 'ipaddressclaims',
  namespaced: true,
};

export const IPAddresses: ResourceRef = {
  group: 'ipam.cluster.x-k8s.io',
  version: 'v1beta2',
  kind: 'IPAddress',
  plural: 'ipaddresses',
  namespaced: true,
};

export { KubevirtClusters };

export interface PoolRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** The pool kind this project's provider fulfils. */
export const InClusterPoolKind = { apiGroup: KubevirtClusters.group, kind: KubevirtClusters.kind } as const;

export interface IPAddressClaim extends KubeObject {
  spec: { clusterName?: string; poolRef: PoolRef };
  status?: { addressRef?: { name?: string }; conditions?: Condition[] };
}

export interface IPAddress extends KubeObject {
  spec: { claimRef: { name: string }; poolRef: PoolRef; address: string; prefix: number; gateway?: string };
}

export function isInClusterPool(ref: PoolRef | undefined): boolean {
  return ref?.apiGroup === InClusterPoolKind.apiGroup && ref.kind === InClusterPoolKind.kind;
}

export function samePool(a: PoolRef, b: PoolRef): boolean {
  return a.apiGroup === b.apiGroup && a.kind === b.kind && a.name === b.name;
}
