// A patch helper in the manner of Cluster API's util/patch: take a snapshot when the reconcile
// starts, mutate the object freely, and at the end write only what changed —
//  1. metadata (labels, annotations, finalizers, ownerReferences) and spec as one JSON merge patch
//     carrying the snapshot's resourceVersion (optimistic concurrency: a stale read fails with 409
//     and the reconcile retries);
//  2. status through the status subresource; conditions of the types this controller owns are
//     merged into the server's current list (others' conditions untouched), retried over a fresh
//     read on conflict.
// Empty patches are never sent: an unchanged world costs no write.
import { isConflict, type RestClient } from './rest.js';
import type { Condition } from './conditions.js';
import type { KubeObject, ResourceRef } from './types.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386 merge patch turning `before` into `after` (objects only at the top); undefined when equal. */
export function createMergePatch(before: JsonObject, after: JsonObject): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(after)) {
    if (v === undefined) continue;
    const old = before[k];
    if (deepEqual(old, v)) continue;
    if (isObject(old) && isObject(v)) {
      const sub = createMergePatch(old, v);
      if (sub) out[k] = sub;
    } else {
      out[k] = v;
    }
  }
  for (const k of Object.keys(before)) if (before[k] !== undefined && after[k] === undefined) out[k] = null;
  return Object.keys(out).length ? out : undefined;
}

const META_FIELDS = ['labels', 'annotations', 'finalizers', 'ownerReferences'] as const;

function metaAndSpec(o: KubeObject): JsonObject {
  const { metadata, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  const meta: JsonObject = {};
  for (const f of META_FIELDS) if (metadata[f] !== undefined) meta[f] = metadata[f];
  return { ...rest, metadata: meta };
}

function statusWithout(o: KubeObject, dropConditions: boolean): JsonObject {
  const s = isObject(o.status) ? { ...o.status } : {};
  if (dropConditions) delete s.conditions;
  return s;
}

function conditionsOf(o: KubeObject): Condition[] {
  return ((isObject(o.status) ? o.status.conditions : undefined) as Condition[] | undefined) ?? [];
}

/** The server's conditions with the owned types replaced by ours (added, changed or removed). */
export function mergeOwnedConditions(
  server: Condition[],
  ours: Condition[],
  owned: Set<string>,
): Condition[] {
  const mine = new Map(ours.filter((c) => owned.has(c.type)).map((c) => [c.type, c]));
  const out: Condition[] = [];
  for (const c of server) {
    if (!owned.has(c.type)) out.push(c);
    else if (mine.has(c.type)) {
      out.push(mine.get(c.type)!);
      mine.delete(c.type);
    }
  }
  out.push(...mine.values());
  return out;
}

export interface PatchOptions {
  /** Condition types this controller writes; the default treats all conditions as owned. */
  ownedConditions?: string[];
  /** Conflict retries for the status write. */
  retries?: number;
  /** Told the resourceVersion each write produced, in order. */
  onWrite?: (resourceVersion: string) => void;
}

export class PatchHelper<T extends KubeObject> {
  private readonly before: T;
  /** Requests sent by patch() so far (tests assert unchanged reconciles send none). */
  writes = 0;

  constructor(
    private readonly client: RestClient,
    private readonly resource: ResourceRef,
    obj: T,
    private readonly hasStatusSubresource = true,
  ) {
    this.before = structuredClone(obj);
  }

  /** Writes the difference between the snapshot and obj; returns the latest server object, if written. */
  async patch(obj: T, opts: PatchOptions = {}): Promise<T | undefined> {
    const { name, namespace } = this.before.metadata;
    let latest: T | undefined;
    const spec = createMergePatch(metaAndSpec(this.before), metaAndSpec(obj));
    if (spec) {
      const md = {
        ...((spec.metadata as JsonObject | undefined) ?? {}),
        resourceVersion: this.before.metadata.resourceVersion,
      };
      this.writes++;
      latest = await this.client.patch<T>(this.resource, name, namespace, { ...spec, metadata: md });
      if (latest?.metadata.resourceVersion) opts.onWrite?.(latest.metadata.resourceVersion);
    }

    const owned = opts.ownedConditions ? new Set(opts.ownedConditions) : undefined;
    const statusPatch = createMergePatch(statusWithout(this.before, true), statusWithout(obj, true)) ?? {};
    const pick = (cs: Condition[]) => (owned ? cs.filter((c) => owned.has(c.type)) : cs);
    const conditionsChanged = !deepEqual(pick(conditionsOf(this.before)), pick(conditionsOf(obj)));
    if (!conditionsChanged && Object.keys(statusPatch).length === 0) return latest;

    const sub = this.hasStatusSubresource ? 'status' : undefined;
    let base: T = latest ?? this.before;
    for (let attempt = 0; ; attempt++) {
      const body: JsonObject = { status: { ...statusPatch } };
      if (conditionsChanged) {
        const merged = owned
          ? mergeOwnedConditions(conditionsOf(base), conditionsOf(obj), owned)
          : conditionsOf(obj);
        (body.status as JsonObject).conditions = merged;
        // Conditions are a list: a merge patch replaces it whole, so guard it with resourceVersion.
        body.metadata = { resourceVersion: base.metadata.resourceVersion };
      }
      try {
        this.writes++;
        latest = await this.client.patch<T>(this.resource, name, namespace, body, { subresource: sub });
        if (latest?.metadata.resourceVersion) opts.onWrite?.(latest.metadata.resourceVersion);
        return latest;
      } catch (e) {
        if (!isConflict(e) || !conditionsChanged || attempt >= (opts.retries ?? 5)) throw e;
        base = await this.client.get<T>(this.resource, name, namespace);
      }
    }
  }
}
