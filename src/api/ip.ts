// Pure IP and CIDR arithmetic, strict like Kubernetes' CEL `ip()`/`cidr()` (Go netip): IPv4
// without leading zeros, no zones, no IPv4-mapped IPv6. Addresses are bigints so that IPv4 and
// IPv6 share one code path.

export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  ip: IpAddress;
  prefix: number;
}

const bits = (family: 4 | 6): number => (family === 4 ? 32 : 128);

export function parseIp(s: string): IpAddress | undefined {
  return s.includes(':') ? parseIpv6(s) : parseIpv4(s);
}

function parseIpv4(s: string): IpAddress | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    value = (value << 8n) | BigInt(p);
  }
  return { family: 4, value };
}

function parseIpv6(s: string): IpAddress | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(s)) return undefined; // no zones, no embedded IPv4
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string | undefined): string[] | undefined =>
    h === undefined || h === ''
      ? []
      : h.split(':').every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))
        ? h.split(':')
        : undefined;
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let value = 0n;
  for (const g of [...head, ...Array<string>(missing).fill('0'), ...tail])
    value = (value << 16n) | BigInt(`0x${g}`);
  return { family: 6, value };
}

/** The canonical text of an address (RFC 5952 for IPv6), as Go's netip prints it. */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((sh) => String((ip.value >> sh) & 0xffn)).join('.');
  const groups = [...Array(8).keys()].map((i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups becomes '::' (the first one on a tie).
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

export const isCanonicalIp = (s: string): boolean => {
  const ip = parseIp(s);
  return ip !== undefined && formatIp(ip) === s;
};

export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (!ip || prefix > bits(ip.family)) return undefined;
  return { ip, prefix };
}

const hostMask = (c: Cidr): bigint => (1n << BigInt(bits(c.ip.family) - c.prefix)) - 1n;

/** True when the host bits of the CIDR are zero (`cidr(s) == cidr(s).masked()` in CEL). */
export const isMasked = (c: Cidr): boolean => (c.ip.value & hostMask(c)) === 0n;

export function cidrContainsIp(c: Cidr, ip: IpAddress): boolean {
  return c.ip.family === ip.family && (c.ip.value & ~hostMask(c)) === (ip.value & ~hostMask(c));
}

export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContainsIp(outer, inner.ip);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContainsIp(a, b.ip) || cidrContainsIp(b, a.ip);
}

/** Number of addresses in the CIDR. */
export const cidrSize = (c: Cidr): bigint => hostMask(c) + 1n;

export const formatCidr = (c: Cidr): string => `${formatIp(c.ip)}/${c.prefix}`;
