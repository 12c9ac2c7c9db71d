// capk's kinds (infrastructure.cluster.x-k8s.io/v1alpha1) as capk-podnet reads and patches them:
// only the network fields are typed here; the rest is capk's and passes through untouched.
import type { MachineNetworkStatus } from '../api/network.js';
import {
  ClusterNameLabel,
  type Condition,
  type Informer,
  type KubeObject,
  type ResourceRef,
} from '../runtime/index.js';

const capk = (kind: string, plural: string): ResourceRef => ({
  group: 'infrastructure.cluster.x-k8s.io',
  version: 'v1alpha1',
  kind,
  plural,
  namespaced: true,
});

export const KubevirtClusters = capk('KubevirtCluster', 'kubevirtclusters');
export const KubevirtMachines = capk('KubevirtMachine', 'kubevirtmachines');
export const KubevirtMachineTemplates = capk('KubevirtMachineTemplate', 'kubevirtmachinetemplates');

export interface KubevirtCluster extends KubeObject {
  spec?: { network?: unknown; [k: string]: unknown };
  status?: { network?: unknown; conditions?: Condition[]; [k: string]: unknown };
}

export interface KubevirtMachine extends KubeObject {
  spec?: { network?: unknown; [k: string]: unknown };
  status?: { network?: MachineNetworkStatus; conditions?: Condition[]; [k: string]: unknown };
}

/**
 * The KubevirtCluster of a capk object (a KubevirtMachine): its CAPI Cluster's infrastructureRef,
 * else the `cluster.x-k8s.io/cluster-name` label (capk names the two alike).
 */
export function kubevirtClusterNameOf(clusters: Informer, o: KubeObject): string | undefined {
  const clusterName = o.metadata.labels?.[ClusterNameLabel];
  if (!clusterName) return undefined;
  const cluster = clusters.get({ namespace: o.metadata.namespace, name: clusterName });
  const infra = (cluster?.spec as { infrastructureRef?: { kind?: string; name?: string } } | undefined)
    ?.infrastructureRef;
  return infra?.kind === KubevirtClusters.kind && infra.name ? infra.name : clusterName;
}
