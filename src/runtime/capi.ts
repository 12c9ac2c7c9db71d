// Cluster API reconcile helpers, generic over group/version/kind so they serve capk's kinds and
// test kinds alike: pause, external management, owner Cluster, finalizers, owner references,
// server-side apply, and a reconciler skeleton in Cluster API's order.
import type { ReconcileContext, Reconciler, Result } from './controller.js';
import { setSummary } from './conditions.js';
import type { Informer } from './informer.js';
import { PatchHelper } from './patch.js';
import { apiVersionOf, type RestClient } from './rest.js';
import type { KubeObject, ObjectKey, OwnerReference, ResourceRef } from './types.js';

export const PausedAnnotation = 'cluster.x-k8s.io/paused';
export const ManagedByAnnotation = 'cluster.x-k8s.io/managed-by';
export const ClusterNameLabel = 'cluster.x-k8s.io/cluster-name';
export const FieldManager = 'capk-podnet';

/** Cluster API's Cluster (v1beta2; v1beta1 has the same fields this needs). */
export const ClusterResource: ResourceRef = {
  group: 'cluster.x-k8s.io',
  version: 'v1beta2',
  kind: 'Cluster',
  plural: 'clusters',
  namespaced: true,
};

export function hasPausedAnnotation(o: KubeObject): boolean {
  return o.metadata.annotations?.[PausedAnnotation] !== undefined;
}

/** Cluster `spec.paused` (a bool in v1beta1 and v1beta2) or the paused annotation on the object. */
export function isPaused(cluster: KubeObject | undefined, o: KubeObject): boolean {
  const paused = (cluster?.spec as { paused?: unknown } | undefined)?.paused;
  return paused === true || paused === 'true' || hasPausedAnnotation(o);
}

/** Owned by something else than its provider (Cluster API's `managed-by` annotation). */
export function isExternallyManaged(o: KubeObject): boolean {
  return o.metadata.annotations?.[ManagedByAnnotation] !== undefined;
}

export function isDeleting(o: KubeObject): boolean {
  return o.metadata.deletionTimestamp !== undefined;
}

/** The owner Cluster's key: the cluster-name label, else an ownerReference of kind Cluster in `group`. */
export function ownerClusterKey(
  o: KubeObject,
  clusterRef: ResourceRef = ClusterResource,
): ObjectKey | undefined {
  const label = o.metadata.labels?.[ClusterNameLabel];
  if (label) return { namespace: o.metadata.namespace, name: label };
  const ref = o.metadata.ownerReferences?.find(
    (r) => r.kind === clusterRef.kind && r.apiVersion.split('/')[0] === clusterRef.group,
  );
  return ref ? { namespace: o.metadata.namespace, name: ref.name } : undefined;
}

export function hasFinalizer(o: KubeObject, f: string): boolean {
  return o.metadata.finalizers?.includes(f) ?? false;
}

/** Adds f; true when it was missing (the caller then patches and returns, as Cluster API does). */
export function ensureFinalizer(o: KubeObject, f: string): boolean {
  if (hasFinalizer(o, f)) return false;
  o.metadata.finalizers = [...(o.metadata.finalizers ?? []), f];
  return true;
}

export function removeFinalizer(o: KubeObject, f: string): boolean {
  if (!hasFinalizer(o, f)) return false;
  const rest = o.metadata.finalizers!.filter((x) => x !== f);
  if (rest.length) o.metadata.finalizers = rest;
  else delete o.metadata.finalizers;
  return true;
}

export function ownerReferenceTo(owner: KubeObject, opts: { controller?: boolean } = {}): OwnerReference {
  if (!owner.metadata.uid || !owner.apiVersion || !owner.kind)
    throw new Error('owner needs apiVersion, kind and uid');
  const ref: OwnerReference = {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
  };
  if (opts.controller) {
    ref.controller = true;
    ref.blockOwnerDeletion = true;
  }
  return ref;
}

/** Sets (or replaces, matched by uid) an owner reference on o. */
export function setOwnerReference(
  o: KubeObject,
  owner: KubeObject,
  opts: { controller?: boolean } = {},
): void {
  const ref = ownerReferenceTo(owner, opts);
  const refs = (o.metadata.ownerReferences ?? []).filter((r) => r.uid !== ref.uid);
  o.metadata.ownerReferences = [...refs, ref];
}

/** Server-side apply of an object the project creates, as field manager `capk-podnet`. */
export function applyOwned<T extends KubeObject>(
  client: RestClient,
  ref: ResourceRef,
  obj: T,
  fieldManager = FieldManager,
): Promise<T> {
  return client.apply(
    ref,
    { ...obj, apiVersion: apiVersionOf(ref), kind: ref.kind },
    { fieldManager, force: true },
  );
}

// ---- the reconciler skeleton ----

export interface Scope<T extends KubeObject> {
  /** A private copy of the cached object: mutate it, the helper patches the difference. */
  object: T;
  cluster?: KubeObject;
  ctx: ReconcileContext;
}

export interface ClusterApiReconcilerOptions<T extends KubeObject> {
  resource: ResourceRef;
  cache: Informer<T>;
  client: RestClient;
  /** Owner Cluster lookup: its kind and, ideally, a cache of it. */
  cluster?: { resource: ResourceRef; cache?: Informer; required?: boolean };
  finalizer: string;
  /** Condition types this controller writes; others' are never touched. */
  ownedConditions: string[];
  /** A summary condition (e.g. NetworkReady) computed from sub-conditions at patch time. */
  summary?: { type: string; from: string[] };
  hasStatusSubresource?: boolean;
  reconcileNormal: (s: Scope<T>) => Promise<Result | void>;
  /** Clean up; the finalizer is removed once it returns without error and without requeue. */
  reconcileDelete: (s: Scope<T>) => Promise<Result | void>;
}

/**
 * A Reconciler in Cluster API's order: get from cache (gone → done) → skip externally managed →
 * owner Cluster (required and missing → wait for it) → skip paused → deletion path, or finalizer
 * first (added → patch and return) → reconcileNormal → summary → patch (also after an error).
 */
export function clusterApiReconciler<T extends KubeObject>(o: ClusterApiReconcilerOptions<T>): Reconciler {
  // Read your own writes: after this reconciler patched an object, its watch event may not have
  // reached the cache when the next reconcile of the key starts, and status computed from the older
  // copy would undo the write (or repeat its Events). The object our last write returned is then
  // the freshest known copy: used as long as the cache still shows a version from before or during
  // that write (a cache merely behind), with no round trip. Any other version means someone else
  // wrote meanwhile: read from the API server. The entry goes once the cache shows our last write.
  const written = new Map<string, { object: T; before: Set<string> }>();
  const current = async (req: ObjectKey): Promise<T | undefined> => {
    const cached = o.cache.get(req);
    const key = `${req.namespace ?? ''}/${req.name}`;
    const mine = written.get(key);
    const rv = cached?.metadata.resourceVersion;
    if (!cached || !mine || rv === mine.object.metadata.resourceVersion) {
      written.delete(key);
      return cached;
    }
    if (rv !== undefined && mine.before.has(rv)) return mine.object;
    const live = await o.client.tryGet<T>(o.resource, req.name, req.namespace);
    if (!live || live.metadata.resourceVersion === rv) written.delete(key);
    return live;
  };
  const patch = async (
    helper: PatchHelper<T>,
    object: T,
    req: ObjectKey,
    opts: { ownedConditions: string[] },
  ) => {
    const key = `${req.namespace ?? ''}/${req.name}`;
    const base = object.metadata.resourceVersion;
    const steps: string[] = [];
    const latest = await helper.patch(object, { ...opts, onWrite: (rv) => steps.push(rv) });
    if (!latest?.metadata.resourceVersion) return;
    // Versions the cache may still show that are older than `latest`: the one this reconcile
    // started from, its own intermediate writes (metadata before status), and older ones of ours.
    const before = new Set([...(written.get(key)?.before ?? []), ...steps]);
    if (base) before.add(base);
    before.delete(latest.metadata.resourceVersion);
    written.set(key, { object: latest, before });
  };
  return async (req, ctx) => {
    const cached = await current(req);
    if (!cached) return;
    if (isExternallyManaged(cached)) {
      ctx.log.debug('externally managed, skipping');
      return;
    }
    let cluster: KubeObject | undefined;
    if (o.cluster) {
      const key = ownerClusterKey(cached, o.cluster.resource);
      if (key)
        cluster = o.cluster.cache
          ? o.cluster.cache.get(key)
          : await o.client.tryGet(o.cluster.resource, key.name, key.namespace);
      if (!cluster && o.cluster.required) {
        ctx.log.info('owner cluster not found yet, waiting', { cluster: key });
        return;
      }
    }
    if (isPaused(cluster, cached)) {
      ctx.log.info('paused, skipping');
      return;
    }
    const object = structuredClone(cached);
    const helper = new PatchHelper<T>(o.client, o.resource, object, o.hasStatusSubresource ?? true);
    const scope: Scope<T> = { object, cluster, ctx };
    const patchOpts = { ownedConditions: [...o.ownedConditions, ...(o.summary ? [o.summary.type] : [])] };

    if (isDeleting(object)) {
      if (!hasFinalizer(object, o.finalizer)) return;
      const result = (await o.reconcileDelete(scope)) ?? {};
      if (!result.requeueAfterMs) removeFinalizer(object, o.finalizer);
      await patch(helper, object, req, patchOpts);
      return result;
    }
    if (ensureFinalizer(object, o.finalizer)) {
      await patch(helper, object, req, patchOpts);
      return;
    }
    let result: Result | void;
    try {
      result = await o.reconcileNormal(scope);
    } finally {
      if (o.summary) setSummary(object, o.summary.type, o.summary.from);
      await patch(helper, object, req, patchOpts);
    }
    return result;
  };
}
