// Pure address-pool arithmetic for the in-cluster pool provider. The pool never remembers what it
// handed out: the taken set always comes from the IPAddress objects in the API server, whose names
// (ipAddressObjectName) make a second allocation of one address fail to create.
import { createHash } from 'node:crypto';
import {
  cidrContainsIp,
  cidrSize,
  formatIp,
  parseCidr,
  parseIp,
  type Cidr,
  type IpAddress,
} from '../api/ip.js';

export interface PoolSpec {
  /** IPv4 CIDRs, host bits zero (validated by the CRD). */
  cidrs: string[];
  /** Addresses never handed out (the gateway, reserved hosts). */
  excluded?: string[];
}

export interface Pool {
  ranges: Cidr[];
  excluded: Set<bigint>;
}

export function parsePool(spec: PoolSpec): Pool {
  const ranges = spec.cidrs.map((c) => {
    const cidr = parseCidr(c);
    if (!cidr || cidr.ip.family !== 4) throw new Error(`pool: ${c} is not an IPv4 CIDR`);
    return cidr;
  });
  const excluded = new Set<bigint>();
  for (const e of spec.excluded ?? []) {
    const ip = parseIp(e);
    if (ip) excluded.add(ip.value);
  }
  return { ranges, excluded };
}

/**
 * The in-cluster pool a tenant cluster's network declares: its `ipam.cidrs`, less its gateway.
 * Undefined when the addresses come from an external pool (`ipam.poolRef`).
 */
export function clusterPool(network: {
  ipam: { cidrs?: string[] };
  gateway: { ipv4: string };
}): Pool | undefined {
  const cidrs = network.ipam.cidrs;
  return cidrs ? parsePool({ cidrs, excluded: [network.gateway.ipv4] }) : undefined;
}

/** First and last address a range may hand out: a /30 or wider loses its network and broadcast. */
function usableBounds(c: Cidr): [bigint, bigint] {
  const first = c.ip.value;
  const last = first + cidrSize(c) - 1n;
  return c.prefix <= 30 ? [first + 1n, last - 1n] : [first, last];
}

/** Why an address cannot come from this pool, or undefined when it can. */
export function unusableReason(pool: Pool, address: string): string | undefined {
  const ip = parseIp(address);
  if (!ip || ip.family !== 4) return `${address} is not an IPv4 address`;
  const range = pool.ranges.find((r) => cidrContainsIp(r, ip));
  if (!range) return `${address} is outside the pool (${pool.ranges.map(fmtCidr).join(', ')})`;
  const [lo, hi] = usableBounds(range);
  if (ip.value < lo || ip.value > hi)
    return `${address} is the network or broadcast address of ${fmtCidr(range)}`;
  if (pool.excluded.has(ip.value)) return `${address} is reserved`;
  return undefined;
}

export function poolSize(pool: Pool): number {
  let n = 0n;
  for (const r of pool.ranges) {
    const [lo, hi] = usableBounds(r);
    n += hi - lo + 1n;
    for (const e of pool.excluded) if (e >= lo && e <= hi) n -= 1n;
  }
  return Number(n);
}

/**
 * Free addresses in pool order (lowest first), lazily: an allocator walks them and tries to create
 * each address's object until one succeeds, so a stale view of `taken` costs a retry, never a
 * duplicate. `taken` is asked as the walk goes (a live view may change between two addresses).
 */
export function* freeAddresses(pool: Pool, taken: { has(address: string): boolean }): Generator<string> {
  for (const r of pool.ranges) {
    const [lo, hi] = usableBounds(r);
    for (let v = lo; v <= hi; v++) {
      if (pool.excluded.has(v)) continue;
      const s = formatIp({ family: 4, value: v } satisfies IpAddress);
      if (!taken.has(s)) yield s;
    }
  }
}

/** Prefix length the VM is told for its address: the one of the range it came from. */
export function prefixOf(pool: Pool, address: string): number | undefined {
  const ip = parseIp(address);
  return ip ? pool.ranges.find((r) => cidrContainsIp(r, ip))?.prefix : undefined;
}

/**
 * The IPAddress object name for an address of a pool: one name per address, so the API server
 * refuses a second object for it (409), whichever replica or restart tries.
 */
export function ipAddressObjectName(poolName: string, address: string): string {
  const suffix = address.replace(/[.:]/g, '-');
  const name = `${poolName}-${suffix}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(poolName).digest('hex').slice(0, 10);
  return `${poolName.slice(0, 253 - suffix.length - hash.length - 2)}-${hash}-${suffix}`;
}

const fmtCidr = (c: Cidr) => `${formatIp(c.ip)}/${c.prefix}`;
