// What this process knows of its pools' addresses without asking the API server: the informer's
// IPAddresses, indexed by pool and by claim, plus reservations: addresses this process is creating,
// or has created or found taken, whose object its cache does not show yet. Workers allocating in
// parallel, and a reconcile that follows its own create before the watch delivers it, choose from
// both, so they do not try the same address twice. The API server still decides (one object name
// per address, ipAddressObjectName): a reservation only spares a lost race, and a stale ledger
// costs a 409 and the next address, never a duplicate.
import type { InformerEvent } from '../runtime/index.js';
import { samePool, type IPAddress, type PoolRef } from './resources.js';

type ReservationState = 'creating' | 'created' | 'taken';

interface Reservation {
  state: ReservationState;
  /** The claim that reserved it (for 'created': whose object it is). */
  claim: string;
  /** The object: ours once created. */
  object?: IPAddress;
  /** The uid of the object behind a 'created' or 'taken' reservation, when known. */
  uid?: string;
  at: number;
}

export interface AddressLedgerOptions {
  /**
   * How long a settled reservation ('created', 'taken') outlives its create when the cache never
   * shows the object (deleted before this process saw it): then the API server is asked again.
   */
  ttlMs?: number;
  now?: () => number;
}

const poolKey = (namespace: string, ref: PoolRef) => `${namespace}/${ref.apiGroup}/${ref.kind}/${ref.name}`;
const claimKey = (namespace: string, claim: string) => `${namespace}/${claim}`;

function oldestFirst(a: IPAddress, b: IPAddress): number {
  return (
    (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
    a.metadata.name.localeCompare(b.metadata.name)
  );
}

export class AddressLedger {
  /** Cached IPAddresses by pool, then by address. */
  private readonly cached = new Map<string, Map<string, IPAddress>>();
  /** Cached IPAddresses by claim, then by object name. */
  private readonly byClaim = new Map<string, Map<string, IPAddress>>();
  /** Reservations by pool, then by address. */
  private readonly reserved = new Map<string, Map<string, Reservation>>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: AddressLedgerOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Feeds the ledger from the IPAddress informer. */
  observe(e: InformerEvent<IPAddress>): void {
    if (e.old && e.old !== e.object) this.forget(e.old);
    if (e.type === 'delete') {
      this.forget(e.object);
      // A reservation for the object that went is settled; one for a newer object is not.
      const ns = e.object.metadata.namespace ?? '';
      const r = this.reserved.get(poolKey(ns, e.object.spec.poolRef))?.get(e.object.spec.address);
      if (r && r.state !== 'creating' && (r.uid === undefined || r.uid === e.object.metadata.uid))
        this.drop(ns, e.object.spec.poolRef, e.object.spec.address);
      return;
    }
    const a = e.object;
    const ns = a.metadata.namespace ?? '';
    if (!a.spec?.poolRef || !a.spec.address) return;
    mapIn(this.cached, poolKey(ns, a.spec.poolRef)).set(a.spec.address, a);
    if (a.spec.claimRef?.name)
      mapIn(this.byClaim, claimKey(ns, a.spec.claimRef.name)).set(a.metadata.name, a);
    // The cache shows it now: a settled reservation has done its job.
    const r = this.reserved.get(poolKey(ns, a.spec.poolRef))?.get(a.spec.address);
    if (r && r.state !== 'creating') this.drop(ns, a.spec.poolRef, a.spec.address);
  }

  /** Addresses of the pool that are not free: cached or reserved. */
  taken(namespace: string, pool: PoolRef): { has(address: string): boolean; readonly size: number } {
    const key = poolKey(namespace, pool);
    this.expire(key);
    const cached = this.cached.get(key);
    const reserved = this.reserved.get(key);
    return {
      has: (address) => (cached?.has(address) ?? false) || (reserved?.has(address) ?? false),
      get size() {
        let n = cached?.size ?? 0;
        for (const a of reserved?.keys() ?? []) if (!cached?.has(a)) n++;
        return n;
      },
    };
  }

  /** The object holding an address of the pool, as far as this process knows. */
  holder(namespace: string, pool: PoolRef, address: string): IPAddress | undefined {
    const key = poolKey(namespace, pool);
    return this.cached.get(key)?.get(address) ?? this.reserved.get(key)?.get(address)?.object;
  }

  /** The claim's addresses in the pool (cached, or created by this process), oldest first. */
  addressesOf(namespace: string, claim: string, pool: PoolRef): IPAddress[] {
    const out = new Map<string, IPAddress>();
    for (const a of this.byClaim.get(claimKey(namespace, claim))?.values() ?? [])
      if (samePool(a.spec.poolRef, pool)) out.set(a.metadata.name, a);
    for (const r of this.reserved.get(poolKey(namespace, pool))?.values() ?? [])
      if (r.state === 'created' && r.claim === claim && r.object && !out.has(r.object.metadata.name))
        out.set(r.object.metadata.name, r.object);
    return [...out.values()].sort(oldestFirst);
  }

  /** Reserves a free address for a create about to be sent; false when it is not free. */
  reserve(namespace: string, pool: PoolRef, address: string, claim: string): boolean {
    if (this.taken(namespace, pool).has(address)) return false;
    mapIn(this.reserved, poolKey(namespace, pool)).set(address, {
      state: 'creating',
      claim,
      at: this.now(),
    });
    return true;
  }

  /** The create succeeded (or found our own object): held until the cache shows it. */
  created(namespace: string, pool: PoolRef, address: string, object: IPAddress): void {
    const key = poolKey(namespace, pool);
    if (this.cached.get(key)?.get(address)?.metadata.uid === object.metadata.uid) {
      this.drop(namespace, pool, address);
      return;
    }
    mapIn(this.reserved, key).set(address, {
      state: 'created',
      claim: object.spec.claimRef.name,
      object,
      ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
      at: this.now(),
    });
  }

  /** The API server has another claim's object at this address, which the cache does not show yet. */
  takenElsewhere(namespace: string, pool: PoolRef, address: string, holder?: IPAddress): void {
    const key = poolKey(namespace, pool);
    if (holder && this.cached.get(key)?.get(address)?.metadata.uid === holder.metadata.uid) {
      this.drop(namespace, pool, address);
      return;
    }
    mapIn(this.reserved, key).set(address, {
      state: 'taken',
      claim: holder?.spec.claimRef.name ?? '',
      ...(holder ? { object: holder } : {}),
      ...(holder?.metadata.uid ? { uid: holder.metadata.uid } : {}),
      at: this.now(),
    });
  }

  /** Drops a reservation (a create that failed for another reason than a conflict). */
  release(namespace: string, pool: PoolRef, address: string): void {
    this.drop(namespace, pool, address);
  }

  /** Reservations held (tests, metrics). */
  get reservations(): number {
    let n = 0;
    for (const m of this.reserved.values()) n += m.size;
    return n;
  }

  private forget(a: IPAddress): void {
    const ns = a.metadata.namespace ?? '';
    if (!a.spec?.poolRef) return;
    const pk = poolKey(ns, a.spec.poolRef);
    const pool = this.cached.get(pk);
    if (pool && pool.get(a.spec.address)?.metadata.uid === a.metadata.uid) pool.delete(a.spec.address);
    if (pool?.size === 0) this.cached.delete(pk);
    if (!a.spec.claimRef?.name) return;
    const ck = claimKey(ns, a.spec.claimRef.name);
    const claim = this.byClaim.get(ck);
    if (claim && claim.get(a.metadata.name)?.metadata.uid === a.metadata.uid) claim.delete(a.metadata.name);
    if (claim?.size === 0) this.byClaim.delete(ck);
  }

  private drop(namespace: string, pool: PoolRef, address: string): void {
    const key = poolKey(namespace, pool);
    const m = this.reserved.get(key);
    m?.delete(address);
    if (m?.size === 0) this.reserved.delete(key);
  }

  private expire(key: string): void {
    const m = this.reserved.get(key);
    if (!m) return;
    const limit = this.now() - this.ttlMs;
    for (const [address, r] of m) if (r.state !== 'creating' && r.at < limit) m.delete(address);
    if (m.size === 0) this.reserved.delete(key);
  }
}

function mapIn<K, V>(m: Map<string, Map<K, V>>, key: string): Map<K, V> {
  let inner = m.get(key);
  if (!inner) m.set(key, (inner = new Map()));
  return inner;
}
