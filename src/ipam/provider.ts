// The in-cluster pool provider: fulfils Cluster API IPAddressClaims whose pool is a KubevirtCluster
// (spec.network.ipam.cidrs), for tenant clusters that have no IPAM provider of their own. Claims on
// any other pool are left to whichever provider owns that pool kind.
//
// Uniqueness lives in the API server, not in this process: each address has exactly one possible
// IPAddress object name (ipAddressObjectName), so two replicas, or a restart between creating the
// IPAddress and binding the claim, can never give one address to two claims.
//
// One pass per claim, one create in the normal case: the finalizer is written, a free address is
// chosen from the informer cache plus this process's reservations (AddressLedger: addresses it is
// creating or has created whose objects the cache does not show yet), so parallel workers never try
// the same one; its object is created (a 409 means another process holds it: the next address);
// the claim is bound in one status write. That write never replaces an address another replica
// bound first: the loser releases its own. A claim left with an address and no binding (a restart
// between the two writes) adopts it; a claim with extra addresses keeps its bound one and releases
// the rest. Events are not awaited.
import { clusterNetworkSpec } from '../api/network.js';
import {
  Controller,
  ensureFinalizer,
  getCondition,
  isConflict,
  isDeleting,
  mergeOwnedConditions,
  ownerReferenceTo,
  OwnWrites,
  PatchHelper,
  removeFinalizer,
  setCondition,
  type EventRecorder,
  type Informer,
  type KubeObject,
  type Manager,
  type ObjectKey,
  type ReconcileContext,
  type RestClient,
  type Result,
} from '../runtime/index.js';
import {
  clusterPool,
  freeAddresses,
  ipAddressObjectName,
  prefixOf,
  unusableReason,
  type Pool,
} from './pool.js';
import { AddressLedger } from './ledger.js';
import {
  IPAddressClaims,
  IPAddresses,
  isInClusterPool,
  KubevirtClusters,
  samePool,
  type IPAddress,
  type IPAddressClaim,
} from './resources.js';

/** The contract's finalizer: the claim stays until its address is released. */
export const RELEASE_FINALIZER = 'ipam.cluster.x-k8s.io/ReleaseAddress';
/** A claim asking for one address (a pinned KubevirtMachine IP); honoured or refused with a reason. */
export const REQUESTED_ADDRESS_ANNOTATION = 'network.capk-podnet.io/requested-address';
/** Labels on IPAddresses so a pool's addresses are found without reading every one. */
export const POOL_NAME_LABEL = 'network.capk-podnet.io/pool';

export const ReadyCondition = 'Ready';
export const Reasons = {
  Allocated: 'Allocated',
  PoolNotFound: 'PoolNotFound',
  InvalidPool: 'InvalidPool',
  PoolExhausted: 'PoolExhausted',
  RequestedAddressUnusable: 'RequestedAddressUnusable',
  RequestedAddressInUse: 'RequestedAddressInUse',
} as const;

export interface PoolProviderOptions {
  /** How often a claim waiting on a full pool is retried besides address releases (ms). */
  exhaustedRetryMs?: number;
  /** Creations tried per reconcile before yielding to other keys. */
  maxAttempts?: number;
  concurrency?: number;
}

interface Deps {
  client: RestClient;
  events: EventRecorder;
  claims: Informer<IPAddressClaim>;
  own: OwnWrites<IPAddressClaim>;
  addresses: Informer<IPAddress>;
  ledger: AddressLedger;
  pools: Informer<KubeObject>;
  opts: Required<PoolProviderOptions>;
}

const owned = [ReadyCondition];

/** Builds the provider's controller and registers it with the manager. */
export function addInClusterPoolProvider(mgr: Manager, options: PoolProviderOptions = {}): Controller {
  const opts: Required<PoolProviderOptions> = {
    exhaustedRetryMs: options.exhaustedRetryMs ?? 30_000,
    maxAttempts: options.maxAttempts ?? 16,
    concurrency: options.concurrency ?? 4,
  };
  const claims = mgr.informer<IPAddressClaim>(IPAddressClaims);
  const addresses = mgr.informer<IPAddress>(IPAddresses);
  const ledger = new AddressLedger();
  // Before the controller's own handlers: a claim woken by an address event finds it in the ledger.
  addresses.addHandler((e) => ledger.observe(e));
  const deps: Deps = {
    client: mgr.client,
    events: mgr.events('capk-podnet-ipam'),
    claims,
    own: new OwnWrites(claims, mgr.client, IPAddressClaims),
    addresses,
    ledger,
    pools: mgr.informer(KubevirtClusters),
    opts,
  };
  const pendingClaimsOfPool = (namespace: string | undefined, pool: string): ObjectKey[] =>
    deps.claims
      .list({ namespace })
      .filter(
        (c) => isInClusterPool(c.spec.poolRef) && c.spec.poolRef.name === pool && !c.status?.addressRef?.name,
      )
      .map((c) => ({ namespace: c.metadata.namespace, name: c.metadata.name }));
  const ofInClusterPool = (o: KubeObject) => isInClusterPool((o as IPAddress).spec?.poolRef);

  const controller = mgr.add(
    new Controller({
      name: 'ipam-in-cluster-pool',
      for: IPAddressClaims,
      // Not the echo of its own write: that reconcile saw it all already.
      predicate: (e) => isInClusterPool((e.object as IPAddressClaim).spec?.poolRef) && deps.own.admit(e),
      concurrency: opts.concurrency,
      watches: [
        // An address changing concerns its own claim.
        {
          source: IPAddresses,
          map: (o) =>
            ofInClusterPool(o)
              ? [{ namespace: o.metadata.namespace, name: (o as IPAddress).spec.claimRef.name }]
              : [],
        },
        // An address going away (a machine deleted) may let a claim waiting on a full pool through.
        {
          source: IPAddresses,
          predicate: (e) => e.type === 'delete' && ofInClusterPool(e.object),
          map: (o) => pendingClaimsOfPool(o.metadata.namespace, (o as IPAddress).spec.poolRef.name),
        },
        // A pool created or changed later than its claims.
        { source: KubevirtClusters, map: (o) => pendingClaimsOfPool(o.metadata.namespace, o.metadata.name) },
      ],
      reconcile: (req, ctx) => reconcileClaim(deps, req, ctx),
    }),
  );
  deps.own.requeue = (k) => controller.enqueue(k);
  return controller;
}

async function reconcileClaim(d: Deps, req: ObjectKey, ctx: ReconcileContext): Promise<Result | void> {
  const current = await d.own.current(req);
  if (!current || !isInClusterPool(current.spec.poolRef)) return;
  let claim = structuredClone(current);
  const base = claim.metadata.resourceVersion;
  const steps: string[] = [];
  const patchOpts = { ownedConditions: owned, onWrite: (rv: string) => steps.push(rv) };
  let helper = new PatchHelper<IPAddressClaim>(d.client, IPAddressClaims, claim);
  const patch = () => d.own.write(req, base, steps, () => helper.patch(claim, patchOpts));

  if (isDeleting(claim)) {
    await releaseAll(d, claim);
    if (removeFinalizer(claim, RELEASE_FINALIZER)) await patch();
    ctx.log.info('released the addresses of a deleted claim');
    return;
  }
  if (ensureFinalizer(claim, RELEASE_FINALIZER)) {
    // Written before any address exists (a claim deleted meanwhile must release it); the same pass
    // then allocates.
    const latest = await patch();
    if (latest) {
      claim = structuredClone(latest);
      helper = new PatchHelper<IPAddressClaim>(d.client, IPAddressClaims, claim);
    }
  }
  let outcome: Outcome | undefined;
  try {
    outcome = await allocate(d, claim, ctx);
  } finally {
    // Conditions only (a wait, a refusal, an error): the binding has its own write below.
    if (!outcome?.bind) await patch();
  }
  if (outcome.bind) {
    const bind = outcome.bind;
    const replacing = current.status?.addressRef?.name;
    const bound = await d.own.write(req, base, steps, () => writeBinding(d, claim, bind, replacing, ctx));
    if (bound && outcome.extra?.length) await releaseExtra(d, outcome.extra, ctx);
  }
  return outcome.result;
}

interface Outcome {
  /** An address to bind the claim to (its status has none yet). */
  bind?: IPAddress;
  /** The claim's other addresses, released once the binding stands. */
  extra?: IPAddress[];
  result?: Result;
}

async function allocate(d: Deps, claim: IPAddressClaim, ctx: ReconcileContext): Promise<Outcome> {
  const ns = claim.metadata.namespace!;
  const poolRef = claim.spec.poolRef;
  const mine = d.ledger.addressesOf(ns, claim.metadata.name, poolRef);
  const requested = claim.metadata.annotations?.[REQUESTED_ADDRESS_ANNOTATION];

  const boundName = claim.status?.addressRef?.name;
  if (boundName) {
    let bound = mine.find((a) => a.metadata.name === boundName);
    if (!bound) {
      // Bound to an address the cache does not show: another replica's, not seen yet, or gone.
      const live = await d.client.tryGet<IPAddress>(IPAddresses, boundName, ns);
      if (live?.spec.claimRef.name === claim.metadata.name) bound = live;
    }
    if (bound) {
      await releaseExtra(
        d,
        mine.filter((a) => a.metadata.name !== bound!.metadata.name),
        ctx,
      );
      markBound(claim, bound);
      return {};
    }
    // Its address was deleted under it: allocate again (below), as for a new claim.
    ctx.log.info('bound address is gone, allocating again', { address: boundName });
    delete claim.status!.addressRef;
  }
  if (mine.length > 0) {
    // A restart (or another replica) left an address of this claim unbound: adopt the oldest. The
    // others are released only once the binding is written: a stale cache may show the claim
    // unbound while another replica has just bound one of them.
    const [keep] = mine;
    return { bind: keep!, extra: mine.filter((a) => a !== keep) };
  }

  const poolObj = d.pools.get({ namespace: ns, name: poolRef.name });
  if (!poolObj) {
    setReady(claim, 'False', Reasons.PoolNotFound, `KubevirtCluster ${poolRef.name} not found`);
    return {};
  }
  const pool = poolOf(poolObj);
  if (typeof pool === 'string') {
    setReady(claim, 'False', Reasons.InvalidPool, pool);
    return {};
  }

  if (requested) {
    const why = unusableReason(pool.pool, requested);
    if (why) {
      refuse(d, claim, Reasons.RequestedAddressUnusable, why);
      return {};
    }
    const holder = d.ledger.holder(ns, poolRef, requested);
    const created =
      holder || !d.ledger.reserve(ns, poolRef, requested, claim.metadata.name)
        ? undefined
        : await tryCreate(d, claim, pool, requested);
    if (created) return { bind: created };
    refuse(
      d,
      claim,
      Reasons.RequestedAddressInUse,
      `requested address ${requested} is held by another claim`,
    );
    return { result: { requeueAfterMs: d.opts.exhaustedRetryMs } };
  }

  const taken = d.ledger.taken(ns, poolRef);
  let attempts = 0;
  for (const address of freeAddresses(pool.pool, taken)) {
    if (attempts >= d.opts.maxAttempts) return { result: { requeueAfterMs: 100 } }; // let our cache catch up first
    // The walk is lazy and other workers reserve meanwhile: taken() answers for now.
    if (!d.ledger.reserve(ns, poolRef, address, claim.metadata.name)) continue;
    attempts++;
    const created = await tryCreate(d, claim, pool, address);
    if (created) {
      d.events.record(claim, 'Normal', Reasons.Allocated, `allocated ${address} from ${poolRef.name}`);
      return { bind: created };
    }
  }
  refuse(
    d,
    claim,
    Reasons.PoolExhausted,
    `no free address in ${pool.cidrs.join(', ')} (${taken.size} allocated)`,
  );
  return { result: { requeueAfterMs: d.opts.exhaustedRetryMs } };
}

/** Ready False with a reason; a Warning Event when the reason is new (not on every retry). */
function refuse(d: Deps, claim: IPAddressClaim, reason: string, message: string): void {
  const before = getCondition(claim, ReadyCondition);
  setReady(claim, 'False', reason, message);
  if (before?.status !== 'False' || before.reason !== reason)
    d.events.record(claim, 'Warning', reason, message);
}

interface ParsedPool {
  pool: Pool;
  cidrs: string[];
  gateway: string;
}

function poolOf(kc: KubeObject): ParsedPool | string {
  const parsed = clusterNetworkSpec.safeParse((kc.spec as { network?: unknown } | undefined)?.network);
  if (!parsed.success) return `spec.network of KubevirtCluster ${kc.metadata.name}: ${parsed.error.message}`;
  const pool = clusterPool(parsed.data);
  if (!pool) return `KubevirtCluster ${kc.metadata.name} names an external pool (ipam.poolRef), not cidrs`;
  return { pool, cidrs: parsed.data.ipam.cidrs!, gateway: parsed.data.gateway.ipv4 };
}

/**
 * Creates the address's one possible object, reserved in the ledger by the caller; undefined when
 * another claim holds it.
 */
async function tryCreate(
  d: Deps,
  claim: IPAddressClaim,
  pool: ParsedPool,
  address: string,
): Promise<IPAddress | undefined> {
  const ns = claim.metadata.namespace!;
  const poolRef = claim.spec.poolRef;
  const name = ipAddressObjectName(poolRef.name, address);
  const body: IPAddress = {
    metadata: {
      name,
      namespace: ns,
      labels: {
        [POOL_NAME_LABEL]: poolRef.name,
        ...(claim.spec.clusterName ? { 'cluster.x-k8s.io/cluster-name': claim.spec.clusterName } : {}),
      },
      ownerReferences: [ownerReferenceTo(claim, { controller: true })],
    },
    spec: {
      claimRef: { name: claim.metadata.name },
      poolRef,
      address,
      prefix: prefixOf(pool.pool, address) ?? 32,
      gateway: pool.gateway,
    },
  };
  let created: IPAddress;
  try {
    created = await d.client.create(IPAddresses, body);
  } catch (e) {
    if (!isConflict(e)) {
      d.ledger.release(ns, poolRef, address);
      throw e;
    }
    // Ours already, from an attempt whose answer was lost? Otherwise someone else's.
    const existing = await d.client.tryGet<IPAddress>(IPAddresses, name, ns);
    if (existing?.spec.claimRef.name !== claim.metadata.name) {
      d.ledger.takenElsewhere(ns, poolRef, address, existing);
      return undefined;
    }
    created = existing;
  }
  d.ledger.created(ns, poolRef, address, created);
  return created;
}

/**
 * Binds the claim in one status write, guarded by its resourceVersion. On a conflict it reads the
 * claim: bound meanwhile to another address (another replica won), the address created here is
 * released and the other binding stands.
 */
async function writeBinding(
  d: Deps,
  claim: IPAddressClaim,
  address: IPAddress,
  /** The binding this one replaces (its address is gone), not another replica's. */
  replacing: string | undefined,
  ctx: ReconcileContext,
): Promise<IPAddressClaim | undefined> {
  const { name, namespace } = claim.metadata;
  markBound(claim, address);
  let base = claim;
  for (let attempt = 0; ; attempt++) {
    const body = {
      metadata: { resourceVersion: base.metadata.resourceVersion },
      status: {
        addressRef: { name: address.metadata.name },
        conditions: mergeOwnedConditions(
          base.status?.conditions ?? [],
          claim.status?.conditions ?? [],
          new Set(owned),
        ),
      },
    };
    try {
      return await d.client.patch<IPAddressClaim>(IPAddressClaims, name, namespace, body, {
        subresource: 'status',
      });
    } catch (e) {
      if (!isConflict(e) || attempt >= 5) throw e;
    }
    base = await d.client.get<IPAddressClaim>(IPAddressClaims, name, namespace);
    const other = base.status?.addressRef?.name;
    if (other && other !== address.metadata.name && other !== replacing) {
      ctx.log.info('claim bound meanwhile by another replica; releasing ours', {
        ours: address.spec.address,
        bound: other,
      });
      await deleteAddress(d, address);
      return undefined;
    }
  }
}

/**
 * Deletes addresses of a claim whose binding to another one is known to stand (left by a race
 * between replicas): never one a claim may be bound to.
 */
async function releaseExtra(d: Deps, extra: IPAddress[], ctx: ReconcileContext) {
  for (const a of extra) await deleteAddress(d, a);
  if (extra.length)
    ctx.log.info('released duplicate addresses after a race', { released: extra.map((a) => a.spec.address) });
}

/** By uid: the name may already belong to another claim's newer object at the same address. */
async function deleteAddress(d: Deps, a: IPAddress): Promise<void> {
  await d.client.delete(IPAddresses, a.metadata.name, a.metadata.namespace, { uid: a.metadata.uid });
}

/** The claim's addresses read live (not from cache): what a deletion must release. */
async function releaseAll(d: Deps, claim: IPAddressClaim): Promise<void> {
  const { items } = await d.client.list<IPAddress>(IPAddresses, {
    namespace: claim.metadata.namespace,
    labelSelector: `${POOL_NAME_LABEL}=${claim.spec.poolRef.name}`,
  });
  for (const a of items)
    if (a.spec.claimRef.name === claim.metadata.name && samePool(a.spec.poolRef, claim.spec.poolRef))
      await deleteAddress(d, a);
}

function markBound(claim: IPAddressClaim, address: IPAddress): void {
  claim.status = { ...claim.status, addressRef: { name: address.metadata.name } };
  setReady(claim, 'True', Reasons.Allocated, `${address.spec.address}/${address.spec.prefix}`);
}

function setReady(claim: IPAddressClaim, status: 'True' | 'False', reason: string, message: string): void {
  setCondition(claim, { type: ReadyCondition, status, reason, message });
}
