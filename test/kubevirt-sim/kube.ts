// Thin I/O edge of the simulator: read-modify-write with conflict retry, and list-then-watch
// caches. Everything goes through the real API server.
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
 * `mutate` edits a fresh copy and returns false to skip the write; a conflict re-reads and
 * retries. Resolves to the written object, or undefined when the object is gone or nothing changed.
 */
async function readModifyWrite<T>(
  read: () => Promise<T>,
  write: (obj: T) => Promise<T>,
  mutate: (obj: T) => boolean | void,
  cached?: () => T | undefined,
): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    let obj: T;
    try {
      // The informer's copy saves a round trip; a conflict means it was stale, then read live.
      const fromCache = attempt === 0 ? cached?.() : undefined;
      obj = fromCache !== undefined ? structuredClone(fromCache) : await read();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    if (mutate(obj) === false) return undefined;
    try {
      return await write(obj);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (!isConflict(e) || attempt >= 20) throw e;
    }
  }
}

export class KubeClient {
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;

  constructor(readonly kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
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
    opts: { status?: boolean; cached?: () => T | undefined } = {},
  ): Promise<T | undefined> {
    const ref = { ...this.cr(plural, namespace), name };
    return readModifyWrite<T>(
      async () => (await this.custom.getNamespacedCustomObject(ref)) as T,
      async (body) =>
        (opts.status
          ? await this.custom.replaceNamespacedCustomObjectStatus({ ...ref, body })
          : await this.custom.replaceNamespacedCustomObject({ ...ref, body })) as T,
      mutate,
      opts.cached,
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
export class Informer<T extends KubernetesObject> {
  readonly store = new Map<string, T>();
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
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.path = watchPath(source);
  }

  onEvent(fn: (type: WatchEventType, obj: T) => void): void {
    this.listeners.push(fn);
  }

  list(): T[] {
    return [...this.store.values()];
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
