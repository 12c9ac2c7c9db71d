// A controller: informers feed keys into one work queue, workers reconcile keys, results decide what
// comes next (controller-runtime's reconcileHandler): an error retries with per-key backoff, a
// TerminalError is logged and not retried, requeueAfter comes back after the delay, success forgets.
// Workers start only after every informer the controller reads has synced.
import { randomUUID } from 'node:crypto';
import type { Informer, InformerEvent, InformerOptions } from './informer.js';
import type { Logger } from './log.js';
import { errorMessage, silentLogger } from './log.js';
import type { RuntimeMetrics } from './metrics.js';
import { WorkQueue, type BackoffOptions } from './queue.js';
import { keyOf, parseKey, type KubeObject, type ObjectKey, type ResourceRef } from './types.js';

/** What a reconcile asks for next; nothing means done until the next change. */
export interface Result {
  requeueAfterMs?: number;
}

/** An error retrying cannot fix (bad spec, unsupported setting): logged and not requeued. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export interface ReconcileContext {
  controller: string;
  reconcileId: string;
  /** Carries controller, namespace, name and reconcileId on every line. */
  log: Logger;
  /** Aborted when the controller stops (shutdown, lost leadership). */
  signal: AbortSignal;
}

export type Reconciler = (req: ObjectKey, ctx: ReconcileContext) => Promise<Result | void>;

/** Maps an event's object to the keys of the objects to reconcile. */
export type MapFunc = (obj: KubeObject) => ObjectKey[];

/** Which objects of a kind to cache: the resource plus optional selectors. */
export type Source =
  ResourceRef | (Pick<InformerOptions, 'labelSelector' | 'fieldSelector'> & { resource: ResourceRef });

export interface WatchSpec {
  source: Source;
  map: MapFunc;
  /** Return false to ignore an event. */
  predicate?: (e: InformerEvent) => boolean;
}

export interface ControllerOptions {
  name: string;
  /** The kind reconciled: its events enqueue its own key. */
  for: Source;
  /** Kinds this controller creates: events enqueue the owner named by a controller ownerReference. */
  owns?: Source[];
  /** Related kinds with their map functions. */
  watches?: WatchSpec[];
  /** Filters events of the for-kind. */
  predicate?: (e: InformerEvent) => boolean;
  reconcile: Reconciler;
  /** Events for which the keys jump the queue (e.g. a live migration in progress). */
  priority?: (e: InformerEvent) => boolean;
  concurrency?: number;
  backoff?: BackoffOptions;
}

export type InformerProvider = (source: Source) => Informer;

export function sourceResource(s: Source): ResourceRef {
  return 'resource' in s ? s.resource : s;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private informers: Informer[] = [];
  private log: Logger = silentLogger();
  private metrics?: RuntimeMetrics;
  private workers: Promise<void>[] = [];
  private abort = new AbortController();
  private bound = false;

  constructor(readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.queue = new WorkQueue({
      backoff: opts.backoff,
      observer: {
        depth: (n) => this.metrics?.queueDepth.set({ name: this.name }, n),
        latency: (ms) => this.metrics?.queueLatency.observe({ name: this.name }, ms / 1000),
        retry: () => this.metrics?.queueRetries.inc({ name: this.name }),
      },
    });
  }

  /** Connects event sources; the manager calls this once, before start. */
  bind(informerFor: InformerProvider, log: Logger, metrics?: RuntimeMetrics): void {
    if (this.bound) throw new Error(`controller ${this.name} is already bound`);
    this.bound = true;
    this.log = log.child({ controller: this.name });
    this.metrics = metrics;
    const forRef = sourceResource(this.opts.for);
    const forInf = informerFor(this.opts.for);
    this.informers.push(forInf);
    forInf.addHandler((e) => {
      if (this.opts.predicate && !this.opts.predicate(e)) return;
      this.queue.add(keyOf(e.object), { priority: this.isUrgent(e) });
    });
    for (const owned of this.opts.owns ?? []) {
      const inf = informerFor(owned);
      this.informers.push(inf);
      const map = mapToControllerOwner(forRef);
      inf.addHandler((e) => {
        const priority = this.isUrgent(e);
        for (const k of map(e.object)) this.queue.add(keyOf(k), { priority });
        // An owner reference removed by the update still concerns the old owner.
        if (e.old && e.old !== e.object) for (const k of map(e.old)) this.queue.add(keyOf(k), { priority });
      });
    }
    for (const w of this.opts.watches ?? []) {
      const inf = informerFor(w.source);
      this.informers.push(inf);
      this.watch(inf, w.map, w.predicate);
    }
  }

  /**
   * Feeds the queue from any informer through a map function, also after start — e.g. an informer
   * on an infra cluster found at runtime (Manager.informerOn). Its cached objects are replayed as
   * adds. Such informers do not gate the controller's start.
   */
  watch(inf: Informer, map: MapFunc, predicate?: (e: InformerEvent) => boolean): void {
    inf.addHandler((e) => {
      if (predicate && !predicate(e)) return;
      const priority = this.isUrgent(e);
      for (const k of safeMap(map, e.object, this.log)) this.queue.add(keyOf(k), { priority });
      if (e.old && e.old !== e.object)
        for (const k of safeMap(map, e.old, this.log)) this.queue.add(keyOf(k), { priority });
    });
  }

  /** Waits for the informers, then runs the workers until stop(). */
  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    if (this.abort.signal.aborted) return;
    const n = Math.max(1, this.opts.concurrency ?? 1);
    this.log.info('starting workers', { workers: n });
    for (let i = 0; i < n; i++) this.workers.push(this.worker());
  }

  /**
   * Stops taking keys. With drain, in-flight reconciles finish first (graceful shutdown); without,
   * their signal is aborted at once and nothing waits (lost leadership).
   */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    if (opts.drain === false) {
      this.abort.abort();
      this.queue.shutDown();
      return;
    }
    await this.queue.shutDownWithDrain();
    this.abort.abort();
    await Promise.allSettled(this.workers);
  }

  /** Enqueues a key by hand (tests, external triggers). */
  enqueue(key: ObjectKey, opts: { priority?: boolean } = {}): void {
    this.queue.add(keyOf(key), opts);
  }

  private isUrgent(e: InformerEvent): boolean {
    try {
      return this.opts.priority?.(e) ?? false;
    } catch {
      return false;
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileKey(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcileKey(key: string): Promise<void> {
    const req = parseKey(key);
    const reconcileId = randomUUID();
    const log = this.log.child({ namespace: req.namespace, name: req.name, reconcileId });
    const ctx: ReconcileContext = { controller: this.name, reconcileId, log, signal: this.abort.signal };
    const labels = { controller: this.name };
    const started = performance.now();
    this.metrics?.activeWorkers.inc(labels);
    try {
      const result = (await this.opts.reconcile(req, ctx)) ?? {};
      if (result.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.forget(key);
        this.queue.addAfter(key, result.requeueAfterMs);
        this.metrics?.reconcileTotal.inc({ ...labels, result: 'requeue_after' });
      } else {
        this.queue.forget(key);
        this.metrics?.reconcileTotal.inc({ ...labels, result: 'success' });
      }
    } catch (e) {
      this.metrics?.reconcileErrors.inc(labels);
      if (e instanceof TerminalError) {
        this.queue.forget(key);
        this.metrics?.reconcileTotal.inc({ ...labels, result: 'terminal_error' });
        log.error('reconcile failed terminally, not retrying', { error: errorMessage(e) });
      } else {
        const delay = this.queue.addRateLimited(key);
        this.metrics?.reconcileTotal.inc({ ...labels, result: 'error' });
        log.error('reconcile failed, will retry', { error: errorMessage(e), retryInMs: delay });
      }
    } finally {
      this.metrics?.activeWorkers.dec(labels);
      this.metrics?.reconcileDuration.observe(labels, (performance.now() - started) / 1000);
    }
  }
}

function safeMap(map: MapFunc, o: KubeObject, log: Logger): ObjectKey[] {
  try {
    return map(o);
  } catch (e) {
    log.error('map function failed', { error: errorMessage(e), object: keyOf(o) });
    return [];
  }
}

// ---- map functions ----

/** The owner of kind `owner` named by the object's controller ownerReference, in its namespace. */
export function mapToControllerOwner(owner: ResourceRef): MapFunc {
  return (o) => {
    const out: ObjectKey[] = [];
    for (const ref of o.metadata.ownerReferences ?? []) {
      if (!ref.controller || ref.kind !== owner.kind || groupOf(ref.apiVersion) !== owner.group) continue;
      out.push({ namespace: o.metadata.namespace, name: ref.name });
    }
    return out;
  };
}

/**
 * The object named by labels on the related object: e.g. a virt-launcher Pod (`vm.kubevirt.io/name`)
 * → its KubevirtMachine, or a VM's `capk.cluster.x-k8s.io/kubevirt-machine-name` + `-namespace`.
 * Without a namespace label the related object's namespace is used.
 */
export function mapByLabels(nameLabel: string, namespaceLabel?: string): MapFunc {
  return (o) => {
    const labels = o.metadata.labels ?? {};
    const name = labels[nameLabel];
    if (!name) return [];
    const namespace = (namespaceLabel && labels[namespaceLabel]) || o.metadata.namespace;
    return [{ namespace, name }];
  };
}

/**
 * A Cluster → the infrastructure object its spec.infrastructureRef names, when of the given kind.
 * Handles v1beta1 ({apiVersion, kind, name, namespace?}) and v1beta2 ({apiGroup, kind, name}).
 */
export function mapInfrastructureRef(kind: string): MapFunc {
  return (o) => {
    const ref = (
      o.spec as { infrastructureRef?: { kind?: string; name?: string; namespace?: string } } | undefined
    )?.infrastructureRef;
    if (!ref?.name || ref.kind !== kind) return [];
    return [{ namespace: ref.namespace ?? o.metadata.namespace, name: ref.name }];
  };
}

/** An object → every cached object of another kind carrying `cluster.x-k8s.io/cluster-name=<its name>`. */
export function mapClusterToLabelled(target: () => Informer): MapFunc {
  return (o) =>
    target()
      .list({ namespace: o.metadata.namespace, labels: { 'cluster.x-k8s.io/cluster-name': o.metadata.name } })
      .map((x) => ({ namespace: x.metadata.namespace, name: x.metadata.name }));
}

export function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

// ---- predicates ----

/**
 * Passes adds, deletes and updates that changed metadata.generation (spec), and periodic resyncs;
 * drops status-only updates, e.g. the echo of the controller's own status write.
 */
export function generationChanged(e: InformerEvent): boolean {
  if (e.type !== 'update' || e.resync || !e.old) return true;
  return e.old.metadata.generation !== e.object.metadata.generation;
}

/** Like generationChanged, but also passes label, annotation, finalizer and deletion changes. */
export function generationOrMetadataChanged(e: InformerEvent): boolean {
  if (generationChanged(e)) return true;
  const a = e.old!.metadata;
  const b = e.object.metadata;
  return (
    JSON.stringify([a.labels, a.annotations, a.finalizers, a.deletionTimestamp]) !==
    JSON.stringify([b.labels, b.annotations, b.finalizers, b.deletionTimestamp])
  );
}
