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
  /** isolation.mode Strict, which this version does not enforce. */
  IsolationNotEnforced: 'IsolationNotEnforced',
  /** An infra Service or EndpointSlice of the name exists and belongs to someone else. */
  ServiceNameTaken: 'ServiceNameTaken',
  /** The API server refused an infra Service or EndpointSlice (e.g. a name over 63 characters). */
  ServiceRejected: 'ServiceRejected',
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

/** Anything with a `type`: capk's conditions and ours share the list. */
export interface AnyCondition {
  type: string;
  status: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

const ownTypes = new Set<string>(Object.values(NetworkConditions));

/**
 * The list with `cond` set: capk's conditions stay untouched and in place, and lastTransitionTime
 * only moves when the status changes. Throws for a type capk-podnet does not own.
 */
export function setNetworkCondition<C extends AnyCondition>(
  list: readonly C[],
  cond: Omit<NetworkCondition, 'lastTransitionTime'>,
  now: Date,
): (C | NetworkCondition)[] {
  if (!ownTypes.has(cond.type)) throw new Error(`${cond.type} is not a capk-podnet condition`);
  const old = list.find((c) => c.type === cond.type);
  const lastTransitionTime =
    old?.status === cond.status && old.lastTransitionTime ? old.lastTransitionTime : now.toISOString();
  const next: NetworkCondition = { ...cond, lastTransitionTime };
  return old ? list.map((c) => (c === old ? next : c)) : [...list, next];
}

/**
 * The cluster's NetworkReady: False when any part is False (first one's reason), Unknown when one
 * is missing or Unknown (missing inputs count as Unknown), else True.
 */
export function summarizeClusterNetwork(
  list: readonly AnyCondition[],
  observedGeneration: number,
): Omit<NetworkCondition, 'lastTransitionTime'> {
  const parts = [
    NetworkConditions.IPAMReady,
    NetworkConditions.IsolationReady,
    NetworkConditions.ServicesReady,
  ];
  const found = parts.map((type) => ({ type, c: list.find((x) => x.type === type) }));
  const failed = found.find((p) => p.c?.status === 'False');
  const unknown = found.find((p) => p.c?.status !== 'True' && p.c?.status !== 'False');
  const base = { type: NetworkConditions.NetworkReady, observedGeneration };
  if (failed)
    return {
      ...base,
      status: 'False',
      reason: (failed.c?.reason as NetworkReason | undefined) ?? NetworkReasons.Pending,
      message: `${failed.type}: ${failed.c?.message ?? 'not ready'}`,
    };
  if (unknown)
    return {
      ...base,
      status: 'Unknown',
      reason: NetworkReasons.Pending,
      message: `${unknown.type} not reported yet`,
    };
  return {
    ...base,
    status: 'True',
    reason: NetworkReasons.Ready,
    message: 'IPAM, isolation and services are ready',
  };
}
