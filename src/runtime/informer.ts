// A list+watch informer with its own cache, written for trust rather than brevity:
// - list first (paged), then watch from the list's resourceVersion, with bookmarks;
// - a watch that ends is resumed from the last resourceVersion seen; 410 Gone (or an ERROR event
//   carrying it) drops the resourceVersion and relists, replaying the difference as events;
// - a watch that stays silent longer than silenceMs (no event, no bookmark) is torn down and resumed,
//   because client-node's informers are known to hang or stop after some errors;
// - errors back off (jittered, capped) and retry forever: the loop only ends on stop();
// - objects are the server's JSON as parsed (timestamps are strings everywhere), managedFields dropped.
// resourceVersion is opaque: only stored and sent back, never compared.
import type { IncomingMessage } from 'node:http';
import type { Logger } from './log.js';
import { errorMessage, silentLogger } from './log.js';
import type { RuntimeMetrics } from './metrics.js';
import { ApiError, isGone, type RestClient, resourcePath, apiVersionOf } from './rest.js';
import { keyOf, refKey, type KubeObject, type ObjectKey, type ResourceRef } from './types.js';

export type InformerEventType = 'add' | 'update' | 'delete';

export interface InformerEvent<T extends KubeObject = KubeObject> {
  type: InformerEventType;
  object: T;
  /** The cached object an update or delete replaced. */
  old?: T;
  /** True for periodic re-deliveries of an unchanged object. */
  resync?: boolean;
}

export type InformerHandler<T extends KubeObject = KubeObject> = (e: InformerEvent<T>) => void;

export interface InformerOptions {
  resource: ResourceRef;
  /** Namespaces to watch; empty or missing means all. */
  namespaces?: string[];
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often (0: never). */
  resyncMs?: number;
  /** Restart a watch that delivered nothing (events or bookmarks) for this long. */
  silenceMs?: number;
  /** Server-side watch timeout; jittered up to twice this so replicas do not reconnect in step. */
  watchTimeoutSeconds?: number;
  /** Retry delays after errors. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Applied to every object before caching; the default drops managedFields. */
  transform?: (o: KubeObject) => KubeObject;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

export function stripManagedFields(o: KubeObject): KubeObject {
  if (o.metadata.managedFields) delete o.metadata.managedFields;
  return o;
}

class SilenceError extends Error {}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private readonly scopes: (string | undefined)[];
  private readonly synced = new Set<string | undefined>();
  private readonly syncWaiters: (() => void)[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly abort = new AbortController();
  private readonly openStreams = new Set<IncomingMessage>();
  private resyncTimer?: NodeJS.Timeout;
  private started = false;
  private readonly log: Logger;
  private readonly name: string;
  /** Restarts of a list or watch by reason, for tests and metrics. */
  readonly restarts = { error: 0, gone: 0, silence: 0 };

  constructor(
    readonly client: RestClient,
    readonly opts: InformerOptions,
  ) {
    const ns = opts.namespaces?.filter((n) => n !== '') ?? [];
    this.scopes = opts.resource.namespaced && ns.length ? [...new Set(ns)] : [undefined];
    this.name = refKey(opts.resource);
    this.log = (opts.logger ?? silentLogger()).child({ informer: this.name });
  }

  addHandler(h: InformerHandler<T>): void {
    this.handlers.push(h);
    // A handler added late still sees what is cached, like client-go's AddEventHandler.
    if (this.started) for (const o of this.store.values()) this.call(h, { type: 'add', object: o });
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const ns of this.scopes) this.loops.push(this.run(ns));
    const resync = this.opts.resyncMs ?? 0;
    if (resync > 0) {
      this.resyncTimer = setInterval(() => {
        for (const o of this.store.values()) this.emit({ type: 'update', object: o, old: o, resync: true });
      }, resync);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const s of this.openStreams) s.destroy();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    for (const w of this.syncWaiters.splice(0)) w();
    await Promise.allSettled(this.loops);
  }

  hasSynced(): boolean {
    return this.synced.size === this.scopes.length;
  }

  /** Resolves once every scope has listed (or the informer was stopped). */
  waitForSync(): Promise<void> {
    if (this.hasSynced() || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  get(key: string | ObjectKey): T | undefined {
    return this.store.get(typeof key === 'string' ? key : keyOf(key));
  }

  list(filter?: { namespace?: string; labels?: Record<string, string> }): T[] {
    const out: T[] = [];
    for (const o of this.store.values()) {
      if (filter?.namespace !== undefined && o.metadata.namespace !== filter.namespace) continue;
      if (filter?.labels && !matchesLabels(o, filter.labels)) continue;
      out.push(o);
    }
    return out;
  }

  get size(): number {
    return this.store.size;
  }

  private async run(ns: string | undefined): Promise<void> {
    let rv: string | undefined;
    let failures = 0;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (rv === undefined) {
          rv = await this.relist(ns);
          this.markSynced(ns);
        }
        const opened = Date.now();
        let progressed = false;
        rv = await this.watch(ns, rv, (newRv) => {
          rv = newRv;
          failures = 0;
          progressed = true;
        });
        // A watch the server ends at once, again and again, must not become a busy loop.
        if (!progressed && Date.now() - opened < 1_000) await sleep(this.retryDelay(failures++), signal);
      } catch (e) {
        if (signal.aborted) break;
        const reason = isGone(e) ? 'gone' : e instanceof SilenceError ? 'silence' : 'error';
        this.restarts[reason]++;
        this.opts.metrics?.informerRestarts.inc({ resource: this.name, reason });
        if (reason === 'gone') {
          this.log.info('watch expired (410 Gone), relisting', { namespace: ns });
          rv = undefined;
          continue;
        }
        if (reason === 'silence') {
          this.log.warn('watch silent, restarting', { namespace: ns, silenceMs: this.opts.silenceMs });
          continue;
        }
        const delay = this.retryDelay(failures++);
        this.log.warn('list/watch failed, retrying', {
          namespace: ns,
          error: errorMessage(e),
          delayMs: delay,
        });
        await sleep(delay, signal);
      }
    }
  }

  /** Lists the scope and replaces its part of the cache, emitting the difference. */
  private async relist(ns: string | undefined): Promise<string> {
    const { items, resourceVersion } = await this.client.list<T>(this.opts.resource, {
      namespace: ns,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
      signal: this.abort.signal,
    });
    const seen = new Set<string>();
    for (const raw of items) {
      const o = this.transform(raw);
      const k = keyOf(o);
      seen.add(k);
      this.upsert(k, o);
    }
    for (const [k, old] of this.store) {
      if (ns !== undefined && old.metadata.namespace !== ns) continue;
      if (!seen.has(k)) {
        this.store.delete(k);
        this.emit({ type: 'delete', object: old, old });
      }
    }
    return resourceVersion;
  }

  /** One watch request; resolves with the last resourceVersion when the server ends it. */
  private async watch(ns: string | undefined, rv: string, onProgress: (rv: string) => void): Promise<string> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const silenceMs = this.opts.silenceMs ?? 150_000;
    const res = await this.client.stream(resourcePath(this.opts.resource, ns), {
      query: {
        watch: true,
        resourceVersion: rv,
        allowWatchBookmarks: true,
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        timeoutSeconds: Math.round(base * (1 + Math.random())),
      },
      signal: this.abort.signal,
      idleTimeoutMs: silenceMs + 1_000,
    });
    this.openStreams.add(res);
    let lastRv = rv;
    return new Promise<string>((resolve, reject) => {
      let buf = '';
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        this.openStreams.delete(res);
        res.destroy();
        if (err) reject(err);
        else resolve(lastRv);
      };
      const arm = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => finish(new SilenceError('silent watch')), silenceMs);
        timer.unref();
      };
      arm();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        arm();
        buf += chunk;
        // Lines are cut by index and the remainder sliced once: a chunk may hold many events.
        let from = 0;
        let nl: number;
        while ((nl = buf.indexOf('\n', from)) >= 0) {
          const line = buf.slice(from, nl).trim();
          from = nl + 1;
          if (!line) continue;
          try {
            const newRv = this.onWatchLine(line);
            if (newRv !== undefined) {
              lastRv = newRv;
              onProgress(newRv);
            }
          } catch (e) {
            finish(e);
            return;
          }
        }
        buf = buf.slice(from);
      });
      res.on('end', () => finish());
      res.on('close', () => finish());
      res.on('error', (e) => finish(e));
    });
  }

  /** Applies one watch event; returns its resourceVersion. */
  private onWatchLine(line: string): string | undefined {
    const ev = JSON.parse(line) as { type: string; object: KubeObject & { code?: number; message?: string } };
    if (ev.type === 'ERROR') {
      const st = ev.object;
      throw new ApiError(st.code ?? 500, String(st.reason ?? ''), st.message ?? 'watch error');
    }
    const rv = ev.object.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') return rv;
    ev.object.apiVersion ??= apiVersionOf(this.opts.resource);
    ev.object.kind ??= this.opts.resource.kind;
    const o = this.transform(ev.object as T);
    const k = keyOf(o);
    this.opts.metrics?.informerEvents.inc({ resource: this.name, type: ev.type });
    if (ev.type === 'DELETED') {
      const old = this.store.get(k);
      this.store.delete(k);
      this.emit({ type: 'delete', object: o, old });
    } else {
      this.upsert(k, o);
    }
    return rv;
  }

  private upsert(k: string, o: T): void {
    const old = this.store.get(k);
    if (old && old.metadata.resourceVersion === o.metadata.resourceVersion) return;
    this.store.set(k, o);
    this.emit(old ? { type: 'update', object: o, old } : { type: 'add', object: o });
  }

  private transform(o: T): T {
    return (this.opts.transform ?? stripManagedFields)(o) as T;
  }

  private emit(e: InformerEvent<T>): void {
    for (const h of this.handlers) this.call(h, e);
  }

  private call(h: InformerHandler<T>, e: InformerEvent<T>): void {
    try {
      h(e);
    } catch (err) {
      this.log.error('event handler failed', { error: errorMessage(err) });
    }
  }

  private markSynced(ns: string | undefined): void {
    this.synced.add(ns);
    if (this.hasSynced()) for (const w of this.syncWaiters.splice(0)) w();
  }

  private retryDelay(failures: number): number {
    const base = this.opts.retryBaseMs ?? 200;
    const max = this.opts.retryMaxMs ?? 30_000;
    const d = Math.min(base * Math.pow(2, failures), max);
    return d / 2 + Math.random() * (d / 2);
  }
}

export function matchesLabels(o: KubeObject, want: Record<string, string>): boolean {
  const have = o.metadata.labels ?? {};
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
