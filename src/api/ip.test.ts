import {
  cidrContainsCidr,
  cidrContainsIp,
  cidrsOverlap,
  cidrSize,
  formatIp,
  isCanonicalIp,
  isMasked,
  parseCidr,
  parseIp,
} from './ip.js';

const ip = (s: string) => parseIp(s)!;
const cidr = (s: string) => parseCidr(s)!;

test.each([
  ['10.0.0.1', true],
  ['255.255.255.255', true],
  ['10.0.0.256', false],
  ['10.01.0.1', false],
  ['10.0.0', false],
  ['fd00::1', true],
  ['FD00::1', false], // parses, but not canonical
  ['fd00:0:0:0:0:0:0:1', false],
  ['2001:db8::1:0:0:1', true],
  ['fe80::1%eth0', false],
  ['::ffff:10.0.0.1', false],
  ['::', true],
])('isCanonicalIp(%s) = %s', (s, want) => expect(isCanonicalIp(s)).toBe(want));

test('IPv6 canonical form: longest zero run, first on a tie', () => {
  expect(formatIp(ip('2001:0db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
  expect(formatIp(ip('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1');
  expect(formatIp(ip('0:0:0:0:0:0:0:1'))).toBe('::1');
});

test('CIDR arithmetic', () => {
  expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  expect(parseCidr('10.0.0.0/08')).toBeUndefined();
  expect(isMasked(cidr('10.200.0.0/24'))).toBe(true);
  expect(isMasked(cidr('10.200.0.1/24'))).toBe(false);
  expect(cidrContainsIp(cidr('10.200.0.0/24'), ip('10.200.0.255'))).toBe(true);
  expect(cidrContainsIp(cidr('10.200.0.0/24'), ip('10.200.1.0'))).toBe(false);
  expect(cidrContainsIp(cidr('0.0.0.0/0'), ip('fd00::1'))).toBe(false);
  expect(cidrContainsCidr(cidr('10.0.0.0/8'), cidr('10.1.0.0/16'))).toBe(true);
  expect(cidrContainsCidr(cidr('10.1.0.0/16'), cidr('10.0.0.0/8'))).toBe(false);
  expect(cidrsOverlap(cidr('10.96.0.0/12'), cidr('10.100.0.0/24'))).toBe(true);
  expect(cidrsOverlap(cidr('10.96.0.0/12'), cidr('10.200.0.0/24'))).toBe(false);
  expect(cidrSize(cidr('10.200.0.0/24'))).toBe(256n);
  expect(cidrSize(cidr('fd00::/64'))).toBe(2n ** 64n);
});
