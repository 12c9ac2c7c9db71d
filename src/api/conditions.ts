// The conditions capk-podnet owns in `status.conditions` of capk's kinds, beside capk's own
// (VMProvisioned, BootstrapExecSucceeded, VMLiveMigratable, LoadBalancerAvailable, Ready), which
// it never writes. Reasons are CamelCase, as metav1.Condition wants.

export const NetworkConditions = {
  /** Both kinds: the machine's network is programmed; on the cluster, a summary of the others. */
  NetworkReady: 'NetworkReady',
  /** Cluster: isolation rules are in place. */
  IsolationReady: 'IsolationReady',
  /** Cluster: every spec.network.services entry has its infra Service. */
  ServicesReady: 'ServicesReady',
  /** Cluster: the node-IP pool is usable; machine: an IP is bound. */
  IPAMReady: 'IPAMReady',
} as const;
export type NetworkConditionType = (typeof NetworkConditions)[keyof typeof NetworkConditions];

export const NetworkReasons = {
  Ready: 'Ready',
  Pending: 'Pending',
  Migrating: 'Migrating',
  /** Input the API server could not check (needs another object or the infra cluster's config). */
  InvalidSpec: 'InvalidSpec',
  PinnedIPOutsidePool: 'PinnedIPOutsidePool',
  PinnedIPReserved: 'PinnedIPReserved',
  PoolOverlapsServiceCIDR: 'PoolOverlapsServiceCIDR',
  PoolOverlapsOtherCluster: 'PoolOverlapsOtherCluster',
  NodePortOutOfRange: 'NodePortOutOfRange',
  PoolExhausted: 'PoolExhausted',
  /** capk's CRD lost the network schema (e.g. re-applied by clusterctl upgrade); acting would lose data. */
  NetworkSchemaMissing: 'NetworkSchemaMissing',
  /** The network spec was restored from the backup annotation after the schema came back. */
  RestoredFromBackup: 'RestoredFromBackup',
} as const;
export type NetworkReason = (typeof NetworkReasons)[keyof typeof NetworkReasons];

/** A condition as capk-podnet writes it (metav1.Condition plus capk's optional severity). */
export interface NetworkCondition {
  type: NetworkConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: NetworkReason;
  /** Never empty: capk's CRD requires minLength 1. */
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
  severity?: 'Error' | 'Warning' | 'Info';
}
