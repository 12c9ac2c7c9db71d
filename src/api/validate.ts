// Checks the API server cannot do, because they need a second object or the infra cluster's
// configuration. The controllers run them and report failures as conditions (reason + message
// naming the field), instead of acting.
import { cidrContainsIp, cidrsOverlap, cidrSize, formatCidr, parseCidr, parseIp, type Cidr } from './ip.js';
import { NetworkReasons, type NetworkReason } from './conditions.js';
import type { z } from 'zod';
import {
  clusterNetworkSpec,
  machineNetworkSpec,
  type ClusterNetworkSpec,
  type MachineNetworkSpec,
} from './network.js';

export interface Problem {
  /** The offending field, as the API server would name it. */
  field: string;
  reason: NetworkReason;
  message: string;
}

const poolCidrs = (net: ClusterNetworkSpec): Cidr[] =>
  (net.ipam.cidrs ?? []).map(parseCidr).filter((c): c is Cidr => c !== undefined);

/** A pinned KubevirtMachine IP must be a usable address of its cluster's pool. */
export function checkPinnedIp(machine: MachineNetworkSpec, cluster: ClusterNetworkSpec): Problem[] {
  if (machine.ipv4 === undefined || cluster.ipam.cidrs === undefined) return [];
  const ip = parseIp(machine.ipv4);
  const field = 'spec.network.ipv4';
  const pool = ip && poolCidrs(cluster).find((c) => cidrContainsIp(c, ip));
  if (!ip || !pool)
    return [
      {
        field,
        reason: NetworkReasons.PinnedIPOutsidePool,
        message: `${field}: ${machine.ipv4} is outside the cluster's spec.network.ipam.cidrs (${cluster.ipam.cidrs.join(', ')})`,
      },
    ];
  const offset = ip.value - pool.ip.value;
  // The network and broadcast addresses of a subnet larger than /31 are not usable.
  if (cidrSize(pool) > 2n && (offset === 0n || offset === cidrSize(pool) - 1n))
    return [
      {
        field,
        reason: NetworkReasons.PinnedIPReserved,
        message: `${field}: ${machine.ipv4} is the network or broadcast address of ${formatCidr(pool)}`,
      },
    ];
  return [];
}

/** The pool must not overlap the infra cluster's Service CIDRs (when known). */
export function checkServiceCidrs(cluster: ClusterNetworkSpec, serviceCidrs: string[]): Problem[] {
  const services = serviceCidrs.map(parseCidr).filter((c): c is Cidr => c !== undefined);
  return (cluster.ipam.cidrs ?? []).flatMap((text, i) => {
    const pool = parseCidr(text);
    const hit = pool && services.find((s) => cidrsOverlap(pool, s));
    return hit
      ? [
          {
            field: `spec.network.ipam.cidrs[${i}]`,
            reason: NetworkReasons.PoolOverlapsServiceCIDR,
            message: `spec.network.ipam.cidrs[${i}]: ${text} overlaps the infra cluster's service CIDR ${formatCidr(hit)}`,
          },
        ]
      : [];
  });
}

export interface NodePortRange {
  min: number;
  max: number;
}
/** Kubernetes' default --service-node-port-range. */
export const DEFAULT_NODE_PORT_RANGE: NodePortRange = { min: 30000, max: 32767 };

/** Fixed node ports must lie in the infra cluster's node-port range. */
export function checkNodePorts(cluster: ClusterNetworkSpec, range = DEFAULT_NODE_PORT_RANGE): Problem[] {
  return (cluster.services ?? []).flatMap((s, i) =>
    s.ports.flatMap((p, j) => {
      if (p.nodePort === undefined || (p.nodePort >= range.min && p.nodePort <= range.max)) return [];
      const field = `spec.network.services[${i}].ports[${j}].nodePort`;
      return [
        {
          field,
          reason: NetworkReasons.NodePortOutOfRange,
          message: `${field}: ${p.nodePort} is outside the infra cluster's node-port range ${range.min}-${range.max}`,
        },
      ];
    }),
  );
}

export type NetworkRead<T> = { ok: true; network: T | undefined } | { ok: false; problems: Problem[] };

/**
 * The edge for API objects: `spec.network` of a KubevirtCluster, parsed with defaults applied.
 * Undefined network means "not managed by capk-podnet". Problems name the field as the API server would.
 */
export function readClusterNetwork(obj: { spec?: { network?: unknown } }): NetworkRead<ClusterNetworkSpec> {
  return readNetwork(clusterNetworkSpec, obj);
}

/** The edge for API objects: `spec.network` of a KubevirtMachine. */
export function readMachineNetwork(obj: { spec?: { network?: unknown } }): NetworkRead<MachineNetworkSpec> {
  return readNetwork(machineNetworkSpec, obj);
}

function readNetwork<T>(schema: z.ZodType<T>, obj: { spec?: { network?: unknown } }): NetworkRead<T> {
  const raw = obj.spec?.network;
  if (raw === undefined) return { ok: true, network: undefined };
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, network: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.map((i) => {
      const field = [
        'spec.network',
        ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)),
      ]
        .join('')
        .replace(/\.\[/g, '[');
      return { field, reason: NetworkReasons.InvalidSpec, message: `${field}: ${i.message}` };
    }),
  };
}
