// Ownership of NB rows. Every row the driver creates carries these external_ids; lookups, diffs and
// deletes go by them, never by parsing names, and a row without OWNER is never touched.
import { machineKey, type ObjectRef } from '../driver.js';

export const OWNER = 'capk-podnet/owner';
export const MACHINE = 'capk-podnet/machine';
export const KIND = 'capk-podnet/kind';
/** The infra node a port, route or policy is about. */
export const NODE = 'capk-podnet/node';
/** multi-chassis mode, on the VM's one port: the nodes whose chassis it is requested on. */
export const CHASSIS_NODES = 'capk-podnet/chassis-nodes';
/**
 * On a VM port: the Static_MAC_Binding the driver keeps beside it, as `<router port> <ip>`.
 * Static_MAC_Binding has no external_ids, so its ownership is recorded on the port it serves.
 */
export const NEIGHBOUR = 'capk-podnet/neighbour';

/**
 * Gateway settings on OVN-Kubernetes' own rows (the only rows not ours that the driver changes):
 * on `stor-<node>`, the arp_proxy tokens it added; on `rtos-<node>`, the MAC it replaced.
 */
export const GATEWAY_ARP_PROXY = 'capk-podnet/gateway-arp-proxy';
export const GATEWAY_ORIGINAL_MAC = 'capk-podnet/gateway-original-mac';

/** On a cluster's pool egress route: the pool it serves. */
export const POOL = 'capk-podnet/pool';

/** `direct`: a per-VM allow policy of earlier versions (replaced by the pool's; removed on sync). */
export type RowKind = 'port' | 'dhcp' | 'route' | 'policy' | 'direct';
/** Rows owned by a tenant cluster as a whole rather than by one machine. */
export const EGRESS_KIND = 'egress';
export const POOL_POLICY_KIND = 'pool-allow';

export interface Owner {
  cluster: ObjectRef;
  machine: ObjectRef;
}

/** The external_ids of a row the driver owns. */
export function ownedIds(
  owner: Owner,
  kind: RowKind,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    [OWNER]: machineKey(owner.cluster),
    [MACHINE]: machineKey(owner.machine),
    [KIND]: kind,
    ...extra,
  };
}

/** The external_ids of a tenant cluster's pool egress route (no machine: shared by its VMs). */
export function egressIds(cluster: ObjectRef, pool: string): Record<string, string> {
  return { [OWNER]: machineKey(cluster), [KIND]: EGRESS_KIND, [POOL]: pool };
}

/** The external_ids of a tenant cluster's pool allow policy (no machine: shared by its VMs). */
export function poolPolicyIds(cluster: ObjectRef, pool: string): Record<string, string> {
  return { [OWNER]: machineKey(cluster), [KIND]: POOL_POLICY_KIND, [POOL]: pool };
}

type WithIds = { external_ids: Readonly<Record<string, string>> };

export function isOwned(row: WithIds): boolean {
  return typeof row.external_ids[OWNER] === 'string' && typeof row.external_ids[MACHINE] === 'string';
}

export function isOwnedKind(row: WithIds, kind: RowKind): boolean {
  return isOwned(row) && row.external_ids[KIND] === kind;
}

export function neighbourId(routerPort: string, ip: string): string {
  return `${routerPort} ${ip}`;
}

export function parseNeighbourId(v: string | undefined): { logicalPort: string; ip: string } | undefined {
  const parts = v?.split(' ');
  if (parts?.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { logicalPort: parts[0], ip: parts[1] };
}
