// @cluster-api-ts/types: friendly names for the types generated (hack/crdgen/types.ts,
// `npm run generate`) from the CRDs capk-podnet reads or writes. Generated types are in
// ./generated; this file only names them and fixes what a CRD schema cannot say:
// `metadata` is client-node's V1ObjectMeta (the CRD types it as a bare object), and
// apiVersion/kind are the literal values of each kind.
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { components as Capk } from './generated/capk.js';
import type { components as ClusterApi } from './generated/cluster-api.js';
import type { components as KubeVirt } from './generated/kubevirt.js';

/** A generated kind with typed metadata and its apiVersion/kind. */
export type KubeObject<T, ApiVersion extends string, Kind extends string> = Omit<
  T,
  'metadata' | 'apiVersion' | 'kind'
> & {
  apiVersion: ApiVersion;
  kind: Kind;
  metadata?: V1ObjectMeta;
};

type CapkApi = 'infrastructure.cluster.x-k8s.io/v1alpha1';
type Schemas<C extends { schemas: object }> = C['schemas'];

// capk, with capk-podnet's network fields
export type KubevirtCluster = KubeObject<Schemas<Capk>['KubevirtCluster'], CapkApi, 'KubevirtCluster'>;
export type KubevirtMachine = KubeObject<Schemas<Capk>['KubevirtMachine'], CapkApi, 'KubevirtMachine'>;
export type KubevirtClusterTemplate = KubeObject<
  Schemas<Capk>['KubevirtClusterTemplate'],
  CapkApi,
  'KubevirtClusterTemplate'
>;
export type KubevirtMachineTemplate = KubeObject<
  Schemas<Capk>['KubevirtMachineTemplate'],
  CapkApi,
  'KubevirtMachineTemplate'
>;
export type KubevirtClusterSpec = NonNullable<KubevirtCluster['spec']>;
export type KubevirtClusterStatus = NonNullable<KubevirtCluster['status']>;
export type KubevirtMachineSpec = NonNullable<KubevirtMachine['spec']>;
export type KubevirtMachineStatus = NonNullable<KubevirtMachine['status']>;
/** `KubevirtCluster.spec.network` as stored (CRD defaults are optional here: the API server applies them). */
export type ClusterNetworkSpec = NonNullable<KubevirtClusterSpec['network']>;
export type ClusterNetworkStatus = NonNullable<KubevirtClusterStatus['network']>;
export type MachineNetworkSpec = NonNullable<KubevirtMachineSpec['network']>;
export type MachineNetworkStatus = NonNullable<KubevirtMachineStatus['network']>;
export type NetworkServiceSpec = NonNullable<ClusterNetworkSpec['services']>[number];
/** An item of capk's `status.conditions` (Cluster API v1beta1 style, plus observedGeneration). */
export type CapkCondition = NonNullable<KubevirtClusterStatus['conditions']>[number];

// Cluster API
export type Cluster = KubeObject<Schemas<ClusterApi>['Cluster'], 'cluster.x-k8s.io/v1beta2', 'Cluster'>;
export type Machine = KubeObject<Schemas<ClusterApi>['Machine'], 'cluster.x-k8s.io/v1beta2', 'Machine'>;
export type IPAddressClaim = KubeObject<
  Schemas<ClusterApi>['IPAddressClaim'],
  'ipam.cluster.x-k8s.io/v1beta2',
  'IPAddressClaim'
>;
export type IPAddress = KubeObject<
  Schemas<ClusterApi>['IPAddress'],
  'ipam.cluster.x-k8s.io/v1beta2',
  'IPAddress'
>;

// KubeVirt
export type VirtualMachine = KubeObject<
  Schemas<KubeVirt>['VirtualMachine'],
  'kubevirt.io/v1',
  'VirtualMachine'
>;
export type VirtualMachineInstance = KubeObject<
  Schemas<KubeVirt>['VirtualMachineInstance'],
  'kubevirt.io/v1',
  'VirtualMachineInstance'
>;
export type VirtualMachineInstanceMigration = KubeObject<
  Schemas<KubeVirt>['VirtualMachineInstanceMigration'],
  'kubevirt.io/v1',
  'VirtualMachineInstanceMigration'
>;
