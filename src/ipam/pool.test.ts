import { freeAddresses, ipAddressObjectName, parsePool, poolSize, prefixOf, unusableReason } from './pool.js';

const take = (it: Iterable<string>, n: number): string[] => {
  const out: string[] = [];
  for (const x of it) {
    if (out.length === n) break;
    out.push(x);
  }
  return out;
};

describe('address pool', () => {
  it.each([
    [['10.0.0.0/24'], [], 254],
    [['10.0.0.0/30'], [], 2],
    [['10.0.0.0/31'], [], 2],
    [['10.0.0.8/32'], [], 1],
    [['10.0.0.0/29', '10.0.1.0/29'], ['10.0.0.1', '10.0.1.6', '192.168.0.1'], 10],
  ])('%j excluding %j has %i usable addresses', (cidrs, excluded, size) => {
    expect(poolSize(parsePool({ cidrs, excluded }))).toBe(size);
  });

  it('hands out the lowest free addresses, skipping network, broadcast, excluded and taken ones', () => {
    const pool = parsePool({ cidrs: ['10.0.0.0/29', '10.0.1.0/31'], excluded: ['10.0.0.2'] });
    const taken = new Set(['10.0.0.1', '10.0.0.4']);
    expect([...freeAddresses(pool, taken)]).toEqual([
      '10.0.0.3',
      '10.0.0.5',
      '10.0.0.6',
      '10.0.1.0',
      '10.0.1.1',
    ]);
  });

  it('is exhausted when every usable address is taken', () => {
    const pool = parsePool({ cidrs: ['10.0.0.0/30'] });
    expect(take(freeAddresses(pool, new Set(['10.0.0.1', '10.0.0.2'])), 1)).toEqual([]);
  });

  it.each([
    ['10.0.0.7', undefined],
    ['10.0.0.0', 'network or broadcast'],
    ['10.0.0.255', 'network or broadcast'],
    ['10.0.1.7', 'outside the pool'],
    ['10.0.0.9', 'reserved'],
    ['fd00::1', 'not an IPv4 address'],
    ['10.0.0.07', 'not an IPv4 address'],
  ])('a pinned %s: %s', (address, reason) => {
    const got = unusableReason(parsePool({ cidrs: ['10.0.0.0/24'], excluded: ['10.0.0.9'] }), address);
    if (reason === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(reason);
  });

  it('tells the prefix of the range an address came from', () => {
    const pool = parsePool({ cidrs: ['10.0.0.0/24', '10.1.0.0/16'] });
    expect(prefixOf(pool, '10.1.2.3')).toBe(16);
    expect(prefixOf(pool, '10.0.0.3')).toBe(24);
    expect(prefixOf(pool, '10.2.0.1')).toBeUndefined();
  });

  it('names one object per address, within the 253-character limit', () => {
    expect(ipAddressObjectName('tenant-a', '10.0.0.5')).toBe('tenant-a-10-0-0-5');
    const long = 'p'.repeat(260);
    const a = ipAddressObjectName(long, '10.0.0.5');
    const b = ipAddressObjectName(long, '10.0.0.6');
    expect(a.length).toBeLessThanOrEqual(253);
    expect(a).not.toBe(b);
    expect(a.endsWith('-10-0-0-5')).toBe(true);
  });

  it('rejects a pool that is not IPv4', () => {
    expect(() => parsePool({ cidrs: ['fd00::/64'] })).toThrow(/not an IPv4 CIDR/);
  });
});
