// Cluster API reconcile helpers, generic over group/version/kind so they serve capk's kinds and
// test kinds alike: pause, external management, owner Cluster, finalizers, owner references,
// server-side apply, and a reconciler skeleton in Cluster API's order.
import type { ReconcileContext, Reconciler, Result } from './controller.js';
import { setSummary } from './conditions.js';
import type { Informer } from './informer.js';
import { OwnWrites } from './own-writes.js';
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
  /**
   * Shared with the controller when it drops the echoes of this reconciler's writes (predicate
   * `own.admit`, `own.requeue` its queue); made here otherwise.
   */
  ownWrites?: OwnWrites<T>;
  /** Clean up; the finalizer is removed once it returns without error and without requeue. */
  reconcileDelete: (s: Scope<T>) => Promise<Result | void>;
}

/**
 * A Reconciler in Cluster API's order: get from cache (gone → done) → skip externally managed →
 * owner Cluster (required and missing → wait for it) → skip paused → deletion path, or finalizer
 * first (added → written at once, and the same pass goes on) → reconcileNormal → summary → patch
 * (also after an error).
 */
export function clusterApiReconciler<T extends KubeObject>(o: ClusterApiReconcilerOptions<T>): Reconciler {
  const own = o.ownWrites ?? new OwnWrites<T>(o.cache, o.client, o.resource);
  return async (req, ctx) => {
    const cached = await own.current(req);
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
    const base = cached.metadata.resourceVersion;
    const steps: string[] = [];
    let object = structuredClone(cached);
    let helper = new PatchHelper<T>(o.client, o.resource, object, o.hasStatusSubresource ?? true);
    const patchOpts = {
      ownedConditions: [...o.ownedConditions, ...(o.summary ? [o.summary.type] : [])],
      onWrite: (rv: string) => steps.push(rv),
    };
    const patch = () => own.write(req, base, steps, () => helper.patch(object, patchOpts));

    if (isDeleting(object)) {
      if (!hasFinalizer(object, o.finalizer)) return;
      const result = (await o.reconcileDelete({ object, cluster, ctx })) ?? {};
      if (!result.requeueAfterMs) removeFinalizer(object, o.finalizer);
      await patch();
      return result;
    }
    if (ensureFinalizer(object, o.finalizer)) {
      // Written before anything the finalizer guards can exist (a deletion meanwhile must find it),
      // then the same pass goes on: a second reconcile would queue behind every other key. As many
      // writes as Cluster API's add-and-continue with the deferred patch, in the safe order.
      const latest = await patch();
      if (latest) {
        object = structuredClone(latest);
        helper = new PatchHelper<T>(o.client, o.resource, object, o.hasStatusSubresource ?? true);
      }
    }
    let result: Result | void;
    try {
      result = await o.reconcileNormal({ object, cluster, ctx });
    } finally {
      if (o.summary) setSummary(object, o.summary.type, o.summary.from);
      await patch();
    }
    return result;
  };
}
