import { AddressLedger } from './ledger.js';
import { freeAddresses, parsePool } from './pool.js';
import type { IPAddress, PoolRef } from './resources.js';

const poolRef: PoolRef = { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'KubevirtCluster', name: 'p' };
const other: PoolRef = { ...poolRef, name: 'q' };
const ns = 'ns';

let uid = 0;
function addr(
  address: string,
  claim: string,
  ref: PoolRef = poolRef,
  created = '2026-01-01T00:00:00Z',
): IPAddress {
  return {
    metadata: { name: `${ref.name}-${address}`, namespace: ns, uid: `u${++uid}`, creationTimestamp: created },
    spec: { claimRef: { name: claim }, poolRef: ref, address, prefix: 24 },
  };
}

const first = (l: AddressLedger, n = 1) => {
  const out: string[] = [];
  for (const a of freeAddresses(parsePool({ cidrs: ['10.0.0.0/29'] }), l.taken(ns, poolRef))) {
    if (out.length === n) break;
    out.push(a);
  }
  return out;
};

describe('address ledger', () => {
  it('counts cached addresses per pool, not across pools', () => {
    const l = new AddressLedger();
    l.observe({ type: 'add', object: addr('10.0.0.1', 'a') });
    l.observe({ type: 'add', object: addr('10.0.0.2', 'b', other) });
    expect(first(l, 2)).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(l.taken(ns, poolRef).size).toBe(1);
  });

  it('keeps parallel allocations apart: a reserved address is not free, nor reservable twice', () => {
    const l = new AddressLedger();
    const [a] = first(l);
    expect(l.reserve(ns, poolRef, a!, 'm1')).toBe(true);
    expect(l.reserve(ns, poolRef, a!, 'm2')).toBe(false);
    expect(first(l)).toEqual(['10.0.0.2']);
  });

  it('shows a created address as its claim’s until the cache has it, then from the cache alone', () => {
    const l = new AddressLedger();
    l.reserve(ns, poolRef, '10.0.0.1', 'm1');
    const obj = addr('10.0.0.1', 'm1');
    l.created(ns, poolRef, '10.0.0.1', obj);
    expect(l.addressesOf(ns, 'm1', poolRef).map((a) => a.spec.address)).toEqual(['10.0.0.1']);
    expect(l.addressesOf(ns, 'm2', poolRef)).toEqual([]);
    expect(l.holder(ns, poolRef, '10.0.0.1')).toBe(obj);
    l.observe({ type: 'add', object: obj });
    expect(l.reservations).toBe(0);
    expect(l.addressesOf(ns, 'm1', poolRef)).toEqual([obj]);
  });

  it('drops a reservation when its create fails, so the address is tried again', () => {
    const l = new AddressLedger();
    l.reserve(ns, poolRef, '10.0.0.1', 'm1');
    l.release(ns, poolRef, '10.0.0.1');
    expect(first(l)).toEqual(['10.0.0.1']);
  });

  it('remembers an address another process holds until the cache shows it, or for ttlMs at most', () => {
    let now = 0;
    const l = new AddressLedger({ ttlMs: 1_000, now: () => now });
    l.reserve(ns, poolRef, '10.0.0.1', 'm1');
    l.takenElsewhere(ns, poolRef, '10.0.0.1', addr('10.0.0.1', 'x'));
    expect(first(l)).toEqual(['10.0.0.2']);
    expect(l.addressesOf(ns, 'm1', poolRef)).toEqual([]);
    now = 500;
    expect(first(l)).toEqual(['10.0.0.2']);
    now = 1_001;
    expect(first(l)).toEqual(['10.0.0.1']);
  });

  it('never expires a create in flight', () => {
    let now = 0;
    const l = new AddressLedger({ ttlMs: 10, now: () => now });
    l.reserve(ns, poolRef, '10.0.0.1', 'm1');
    now = 1_000;
    expect(first(l)).toEqual(['10.0.0.2']);
  });

  it('frees a deleted address, but a late delete of an older object keeps the new reservation', () => {
    const l = new AddressLedger();
    const old = addr('10.0.0.1', 'gone');
    l.observe({ type: 'add', object: old });
    l.observe({ type: 'delete', object: old, old });
    expect(first(l)).toEqual(['10.0.0.1']);

    // Released and allocated again before this process saw the release: its delete arrives after
    // our create succeeded.
    const older = addr('10.0.0.2', 'gone');
    l.reserve(ns, poolRef, '10.0.0.1', 'm1');
    l.created(ns, poolRef, '10.0.0.1', addr('10.0.0.1', 'm1'));
    l.observe({ type: 'delete', object: { ...older, spec: { ...older.spec, address: '10.0.0.1' } } });
    expect(l.addressesOf(ns, 'm1', poolRef).map((a) => a.spec.address)).toEqual(['10.0.0.1']);
  });

  it('lists a claim’s addresses oldest first (the one a duplicate race keeps)', () => {
    const l = new AddressLedger();
    l.observe({ type: 'add', object: addr('10.0.0.5', 'm1', poolRef, '2026-01-01T00:00:02Z') });
    l.observe({ type: 'add', object: addr('10.0.0.3', 'm1', poolRef, '2026-01-01T00:00:01Z') });
    l.observe({ type: 'add', object: addr('10.0.0.4', 'm1', other, '2026-01-01T00:00:00Z') });
    expect(l.addressesOf(ns, 'm1', poolRef).map((a) => a.spec.address)).toEqual(['10.0.0.3', '10.0.0.5']);
  });
});
