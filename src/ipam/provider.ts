// The in-cluster pool provider: fulfils Cluster API IPAddressClaims whose pool is a KubevirtCluster
// (spec.network.ipam.cidrs), for tenant clusters that have no IPAM provider of their own. Claims on
// any other pool are left to whichever provider owns that pool kind.
//
// Uniqueness lives in the API server, not in this process: each address has exactly one possible
// IPAddress object name (ipAddressObjectName), so two replicas, or a restart between creating the
// IPAddress and binding the claim, can never give one address to two claims. A claim that ends up
// with two addresses after such a race keeps the oldest and releases the rest.
import { clusterNetworkSpec } from '../api/network.js';
import {
  Controller,
  ensureFinalizer,
  isConflict,
  isDeleting,
  ownerReferenceTo,
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
  freeAddresses,
  ipAddressObjectName,
  parsePool,
  prefixOf,
  unusableReason,
  type Pool,
} from './pool.js';
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
  addresses: Informer<IPAddress>;
  pools: Informer<KubeObject>;
  opts: Required<PoolProviderOptions>;
}

/** Builds the provider's controller and registers it with the manager. */
export function addInClusterPoolProvider(mgr: Manager, options: PoolProviderOptions = {}): Controller {
  const opts: Required<PoolProviderOptions> = {
    exhaustedRetryMs: options.exhaustedRetryMs ?? 30_000,
    maxAttempts: options.maxAttempts ?? 16,
    concurrency: options.concurrency ?? 4,
  };
  const deps: Deps = {
    client: mgr.client,
    events: mgr.events('capk-podnet-ipam'),
    claims: mgr.informer<IPAddressClaim>(IPAddressClaims),
    addresses: mgr.informer<IPAddress>(IPAddresses),
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

  return mgr.add(
    new Controller({
      name: 'ipam-in-cluster-pool',
      for: IPAddressClaims,
      predicate: (e) => isInClusterPool((e.object as IPAddressClaim).spec?.poolRef),
      concurrency: opts.concurrency,
      watches: [
        {
          // An address going away (a machine deleted) may let a waiting claim through; an address
          // changing concerns its own claim.
          source: IPAddresses,
          map: (o) => {
            const a = o as IPAddress;
            if (!isInClusterPool(a.spec?.poolRef)) return [];
            return [
              { namespace: a.metadata.namespace, name: a.spec.claimRef.name },
              ...pendingClaimsOfPool(a.metadata.namespace, a.spec.poolRef.name),
            ];
          },
        },
        // A pool created or changed later than its claims.
        { source: KubevirtClusters, map: (o) => pendingClaimsOfPool(o.metadata.namespace, o.metadata.name) },
      ],
      reconcile: (req, ctx) => reconcileClaim(deps, req, ctx),
    }),
  );
}

async function reconcileClaim(d: Deps, req: ObjectKey, ctx: ReconcileContext): Promise<Result | void> {
  const cached = d.claims.get(req);
  if (!cached || !isInClusterPool(cached.spec.poolRef)) return;
  const claim = structuredClone(cached);
  const helper = new PatchHelper<IPAddressClaim>(d.client, IPAddressClaims, claim);
  const owned = { ownedConditions: [ReadyCondition] };

  if (isDeleting(claim)) {
    await releaseAll(d, claim);
    if (removeFinalizer(claim, RELEASE_FINALIZER)) await helper.patch(claim, owned);
    ctx.log.info('released the addresses of a deleted claim');
    return;
  }
  if (ensureFinalizer(claim, RELEASE_FINALIZER)) {
    await helper.patch(claim, owned);
    return;
  }
  let result: Result | void;
  try {
    result = await bindAddress(d, claim, ctx);
  } finally {
    await helper.patch(claim, owned);
  }
  return result;
}

async function bindAddress(d: Deps, claim: IPAddressClaim, ctx: ReconcileContext): Promise<Result | void> {
  const ns = claim.metadata.namespace!;
  const poolRef = claim.spec.poolRef;
  const mine = await liveAddressesOf(d, claim);
  const requested = claim.metadata.annotations?.[REQUESTED_ADDRESS_ANNOTATION];

  if (mine.length > 0) {
    const [keep, ...extra] = mine;
    for (const a of extra) await d.client.delete(IPAddresses, a.metadata.name, ns);
    if (extra.length) ctx.log.info('released duplicate addresses after a race', { kept: keep!.spec.address });
    return markBound(claim, keep!);
  }

  const poolObj = d.pools.get({ namespace: ns, name: poolRef.name });
  if (!poolObj) {
    setReady(claim, 'False', Reasons.PoolNotFound, `KubevirtCluster ${poolRef.name} not found`);
    return;
  }
  const pool = poolOf(poolObj);
  if (typeof pool === 'string') {
    setReady(claim, 'False', Reasons.InvalidPool, pool);
    return;
  }

  if (requested) {
    const why = unusableReason(pool.pool, requested);
    if (why) {
      setReady(claim, 'False', Reasons.RequestedAddressUnusable, why);
      await d.events.event(claim, 'Warning', Reasons.RequestedAddressUnusable, why);
      return;
    }
    const created = await tryCreate(d, claim, pool, requested);
    if (created) return markBound(claim, created);
    const msg = `requested address ${requested} is held by another claim`;
    setReady(claim, 'False', Reasons.RequestedAddressInUse, msg);
    await d.events.event(claim, 'Warning', Reasons.RequestedAddressInUse, msg);
    return { requeueAfterMs: d.opts.exhaustedRetryMs };
  }

  const taken = new Set(
    d.addresses
      .list({ namespace: ns })
      .filter((a) => samePool(a.spec.poolRef, poolRef))
      .map((a) => a.spec.address),
  );
  let attempts = 0;
  for (const address of freeAddresses(pool.pool, taken)) {
    if (attempts++ >= d.opts.maxAttempts) return { requeueAfterMs: 100 }; // let our cache catch up first
    const created = await tryCreate(d, claim, pool, address);
    if (created) {
      await d.events.event(claim, 'Normal', Reasons.Allocated, `allocated ${address} from ${poolRef.name}`);
      return markBound(claim, created);
    }
  }
  const msg = `no free address in ${pool.cidrs.join(', ')} (${taken.size} allocated)`;
  setReady(claim, 'False', Reasons.PoolExhausted, msg);
  await d.events.event(claim, 'Warning', Reasons.PoolExhausted, msg);
  return { requeueAfterMs: d.opts.exhaustedRetryMs };
}

interface ParsedPool {
  pool: Pool;
  cidrs: string[];
  gateway: string;
}

function poolOf(kc: KubeObject): ParsedPool | string {
  const parsed = clusterNetworkSpec.safeParse((kc.spec as { network?: unknown } | undefined)?.network);
  if (!parsed.success) return `spec.network of KubevirtCluster ${kc.metadata.name}: ${parsed.error.message}`;
  const cidrs = parsed.data.ipam.cidrs;
  if (!cidrs) return `KubevirtCluster ${kc.metadata.name} names an external pool (ipam.poolRef), not cidrs`;
  const gateway = parsed.data.gateway.ipv4;
  return { pool: parsePool({ cidrs, excluded: [gateway] }), cidrs, gateway };
}

/** Creates the address's one possible object; undefined when another claim holds it. */
async function tryCreate(
  d: Deps,
  claim: IPAddressClaim,
  pool: ParsedPool,
  address: string,
): Promise<IPAddress | undefined> {
  const ns = claim.metadata.namespace!;
  const name = ipAddressObjectName(claim.spec.poolRef.name, address);
  const body: IPAddress = {
    metadata: {
      name,
      namespace: ns,
      labels: {
        [POOL_NAME_LABEL]: claim.spec.poolRef.name,
        ...(claim.spec.clusterName ? { 'cluster.x-k8s.io/cluster-name': claim.spec.clusterName } : {}),
      },
      ownerReferences: [ownerReferenceTo(claim, { controller: true })],
    },
    spec: {
      claimRef: { name: claim.metadata.name },
      poolRef: claim.spec.poolRef,
      address,
      prefix: prefixOf(pool.pool, address) ?? 32,
      gateway: pool.gateway,
    },
  };
  try {
    return await d.client.create(IPAddresses, body);
  } catch (e) {
    if (!isConflict(e)) throw e;
    // Ours already, from a previous attempt whose claim update never landed?
    const existing = await d.client.tryGet<IPAddress>(IPAddresses, name, ns);
    return existing?.spec.claimRef.name === claim.metadata.name ? existing : undefined;
  }
}

/** The claim's addresses read live (not from cache), oldest first, so a race resolves the same way everywhere. */
async function liveAddressesOf(d: Deps, claim: IPAddressClaim): Promise<IPAddress[]> {
  const { items } = await d.client.list<IPAddress>(IPAddresses, {
    namespace: claim.metadata.namespace,
    labelSelector: `${POOL_NAME_LABEL}=${claim.spec.poolRef.name}`,
  });
  return items
    .filter(
      (a) => a.spec.claimRef.name === claim.metadata.name && samePool(a.spec.poolRef, claim.spec.poolRef),
    )
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    );
}

async function releaseAll(d: Deps, claim: IPAddressClaim): Promise<void> {
  for (const a of await liveAddressesOf(d, claim))
    await d.client.delete(IPAddresses, a.metadata.name, a.metadata.namespace);
}

function markBound(claim: IPAddressClaim, address: IPAddress): void {
  claim.status = { ...claim.status, addressRef: { name: address.metadata.name } };
  setReady(claim, 'True', Reasons.Allocated, `${address.spec.address}/${address.spec.prefix}`);
}

function setReady(claim: IPAddressClaim, status: 'True' | 'False', reason: string, message: string): void {
  setCondition(claim, { type: ReadyCondition, status, reason, message });
}
