// Thin I/O edge of the simulator: read-modify-write with conflict retry, and list-then-watch
// caches. Everything goes through the real API server.
import { Agent as HttpsAgent } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION } from './model.js';

export type Plural = 'virtualmachines' | 'virtualmachineinstances' | 'virtualmachineinstancemigrations';

export function errorCode(e: unknown): number | undefined {
  const err = e as { code?: number; statusCode?: number };
  return err.code ?? err.statusCode;
}

export const isNotFound = (e: unknown) => errorCode(e) === 404;
export const isConflict = (e: unknown) => errorCode(e) === 409;

export function keyOf(obj: KubernetesObject): string {
  return obj.metadata?.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata!.name!;
}

/**
 * The same config, whose API clients reuse their connections. client-node 1.x gives every request
 * an https.Agent of its own, so each is a new TLS connection: at a thousand VMs that was ~15
 * handshakes per VM and a tenth of the API server's CPU (its RSA signatures), where KubeVirt's
 * controllers (client-go) keep their connections.
 */
export function reusingConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  let shared: HttpsAgent | undefined;
  const keep = Object.create(kc) as k8s.KubeConfig;
  keep.applySecurityAuthentication = async (context) => {
    await kc.applySecurityAuthentication(context);
    const own = context.getAgent();
    if (!(own instanceof HttpsAgent)) return;
    shared ??= new HttpsAgent({ ...own.options, keepAlive: true });
    context.setAgent(shared);
  };
  return keep;
}

/** Where a write starts from: the informer's copy (or our own last write), as KubeVirt writes. */
export interface WriteBase<T> {
  latest(key: string): T | undefined;
  wrote(key: string, baseResourceVersion: string | undefined, written: T): void;
}

/**
 * `mutate` edits a copy and returns false to skip the write. The copy comes from the cache when
 * there is one (KubeVirt's controllers write from their informers: no read before a write); a
 * conflict means it was stale, then the object is read live and the write retried. Resolves to
 * the written object, or undefined when the object is gone or nothing changed.
 */
async function readModifyWrite<T extends KubernetesObject>(
  read: () => Promise<T>,
  write: (obj: T) => Promise<T>,
  mutate: (obj: T) => boolean | void,
  cache?: { base: WriteBase<T>; key: string },
): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    let obj: T;
    try {
      const fromCache = attempt === 0 ? cache?.base.latest(cache.key) : undefined;
      obj = fromCache !== undefined ? structuredClone(fromCache) : await read();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const baseRv = obj.metadata?.resourceVersion;
    if (mutate(obj) === false) return undefined;
    try {
      const written = await write(obj);
      cache?.base.wrote(cache.key, baseRv, written);
      return written;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (!isConflict(e) || attempt >= 20) throw e;
    }
  }
}

export class KubeClient {
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  /** Write bases by plural ('pods', 'nodes' and KubeVirt's), set once the informers exist. */
  private readonly bases = new Map<string, WriteBase<KubernetesObject>>();

  constructor(readonly kc: k8s.KubeConfig) {
    const reusing = reusingConnections(kc);
    this.core = reusing.makeApiClient(k8s.CoreV1Api);
    this.custom = reusing.makeApiClient(k8s.CustomObjectsApi);
  }

  /** Writes of this kind start from `base` (an informer) instead of a live read. */
  writeFrom<T extends KubernetesObject>(plural: Plural | 'pods' | 'nodes', base: WriteBase<T>): void {
    this.bases.set(plural, base as unknown as WriteBase<KubernetesObject>);
  }

  private cache<T extends KubernetesObject>(plural: string, key: string) {
    const base = this.bases.get(plural) as WriteBase<T> | undefined;
    return base ? { base, key } : undefined;
  }

  private cr(plural: Plural, namespace: string) {
    return { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural, namespace };
  }

  async getCustom<T>(plural: Plural, namespace: string, name: string): Promise<T | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ ...this.cr(plural, namespace), name })) as T;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async createCustom<T extends KubernetesObject>(plural: Plural, obj: T): Promise<T> {
    return (await this.custom.createNamespacedCustomObject({
      ...this.cr(plural, obj.metadata!.namespace!),
      body: obj,
    })) as T;
  }

  async deleteCustom(plural: Plural, namespace: string, name: string): Promise<void> {
    try {
      await this.custom.deleteNamespacedCustomObject({ ...this.cr(plural, namespace), name });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** `status: true` writes through the status subresource (VM and VMIM have one; the VMI has not). */
  updateCustom<T extends KubernetesObject>(
    plural: Plural,
    namespace: string,
    name: string,
    mutate: (obj: T) => boolean | void,
    opts: { status?: boolean } = {},
  ): Promise<T | undefined> {
    const ref = { ...this.cr(plural, namespace), name };
    return readModifyWrite<T>(
      async () => (await this.custom.getNamespacedCustomObject(ref)) as T,
      async (body) =>
        (opts.status
          ? await this.custom.replaceNamespacedCustomObjectStatus({ ...ref, body })
          : await this.custom.replaceNamespacedCustomObject({ ...ref, body })) as T,
      mutate,
      this.cache<T>(plural, `${namespace}/${name}`),
    );
  }

  updatePod(
    namespace: string,
    name: string,
    mutate: (pod: k8s.V1Pod) => boolean | void,
    opts: { status?: boolean } = {},
  ): Promise<k8s.V1Pod | undefined> {
    return readModifyWrite<k8s.V1Pod>(
      () => this.core.readNamespacedPod({ namespace, name }),
      (body) =>
        opts.status
          ? this.core.replaceNamespacedPodStatus({ namespace, name, body })
          : this.core.replaceNamespacedPod({ namespace, name, body }),
      mutate,
      this.cache<k8s.V1Pod>('pods', `${namespace}/${name}`),
    );
  }

  async deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  updateNode(
    name: string,
    mutate: (node: k8s.V1Node) => boolean | void,
    opts: { status?: boolean } = {},
  ): Promise<k8s.V1Node | undefined> {
    return readModifyWrite<k8s.V1Node>(
      () => this.core.readNode({ name }),
      (body) =>
        opts.status ? this.core.replaceNodeStatus({ name, body }) : this.core.replaceNode({ name, body }),
      mutate,
      this.cache<k8s.V1Node>('nodes', name),
    );
  }
}

export interface InformerSource {
  apiVersion: string;
  kind: string;
  /** Lower-case plural, for the watch path. */
  plural: string;
  /** Unset: all namespaces (or a cluster-scoped kind). */
  namespace?: string;
  labelSelector?: string;
}

function watchPath({ apiVersion, plural, namespace }: InformerSource): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * List, then watch from the list's resourceVersion; on a closed stream resume from the last seen
 * version, on 410 Gone relist (replaying what changed as events). Keeps the latest object per key.
 */
export class Informer<T extends KubernetesObject> implements WriteBase<T> {
  readonly store = new Map<string, T>();
  /**
   * Our own writes the watch has not delivered yet, with the versions they replaced: a write
   * that follows another of ours starts from what we wrote, not from the stale copy (a 409).
   */
  private readonly own = new Map<string, { object: T; before: Set<string> }>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private stopped = false;
  private readonly listeners: ((type: WatchEventType, obj: T) => void)[] = [];

  private readonly objects: k8s.KubernetesObjectApi;
  private readonly path: string;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly source: InformerSource,
  ) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(reusingConnections(kc));
    this.path = watchPath(source);
  }

  onEvent(fn: (type: WatchEventType, obj: T) => void): void {
    this.listeners.push(fn);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  /** The copy a write starts from: the cache's, or our last write while the cache shows an older one. */
  latest(key: string): T | undefined {
    const cached = this.store.get(key);
    const mine = this.own.get(key);
    if (!mine) return cached;
    const rv = cached?.metadata?.resourceVersion;
    if (rv !== undefined && mine.before.has(rv)) return mine.object;
    this.own.delete(key);
    return cached;
  }

  wrote(key: string, baseResourceVersion: string | undefined, written: T): void {
    const rv = written.metadata?.resourceVersion;
    if (!rv) return;
    const before = new Set(this.own.get(key)?.before ?? []);
    if (baseResourceVersion) before.add(baseResourceVersion);
    before.delete(rv);
    this.own.set(key, { object: written, before });
  }

  async start(): Promise<void> {
    await this.relist();
    await this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private emit(type: WatchEventType, obj: T): void {
    const key = keyOf(obj);
    if (type === 'DELETED') this.store.delete(key);
    else this.store.set(key, obj);
    for (const fn of this.listeners) fn(type, obj);
  }

  /** Retries what an API server answers while busy (429 "storage is (re)initializing", 5xx). */
  private async relist(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.relistOnce();
      } catch (e) {
        const code = (e as { code?: number }).code ?? 0;
        if (this.stopped || attempt >= 20 || (code !== 429 && code < 500)) throw e;
        await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt)));
      }
    }
  }

  private async relistOnce(): Promise<void> {
    const list = await this.objects.list<T>(
      this.source.apiVersion,
      this.source.kind,
      this.source.namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      this.source.labelSelector,
    );
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    const seen = new Set<string>();
    for (const item of list.items) {
      seen.add(keyOf(item));
      const old = this.store.get(keyOf(item));
      if (old?.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.emit(old ? 'MODIFIED' : 'ADDED', item);
    }
    for (const [key, old] of [...this.store]) if (!seen.has(key)) this.emit('DELETED', old);
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const w = new k8s.Watch(this.kc);
    this.abort = await w.watch(
      this.path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        labelSelector: this.source.labelSelector,
      },
      (type, obj: T) => {
        if (type === 'BOOKMARK') {
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          return;
        }
        if (type === 'ERROR') {
          // 410 Gone: our version is too old; relist on reconnect.
          this.resourceVersion = '';
          return;
        }
        this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
        this.emit(type as WatchEventType, obj);
      },
      (err: unknown) => {
        if (this.stopped) return;
        void this.reconnect(err);
      },
    );
  }

  private async reconnect(_err: unknown): Promise<void> {
    for (let delay = 50; !this.stopped; delay = Math.min(delay * 2, 2_000)) {
      try {
        if (!this.resourceVersion) await this.relist();
        await this.watch();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
