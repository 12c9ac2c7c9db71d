// Test helpers: an independent watch recorder (what any client of the API server would see),
// and a VirtualMachine builder.
import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { EvictionStrategy, Interface, RunStrategy, VirtualMachine } from './types.js';

export interface Recorded<T> {
  type: string;
  obj: T;
}

/**
 * Records every watch event on a path, from "now" (existing objects arrive as ADDED). A watch the
 * server ends (its timeout, or a busy API server dropping it) resumes from the last version seen,
 * so that a test never waits on a recorder that stopped listening.
 */
export class WatchRecorder<T extends KubernetesObject> {
  readonly events: Recorded<T>[] = [];
  private readonly latestByName = new Map<string, T>();
  private readonly waiters = new Set<() => void>();
  private abort: AbortController | undefined;
  private resourceVersion: string | undefined;
  private stopped = false;

  private constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly path: string,
    private readonly labelSelector?: string,
  ) {}

  static async start<T extends KubernetesObject>(
    kc: k8s.KubeConfig,
    path: string,
    labelSelector?: string,
  ): Promise<WatchRecorder<T>> {
    const r = new WatchRecorder<T>(kc, path, labelSelector);
    await r.watch();
    return r;
  }

  private generation = 0;

  private async watch(): Promise<void> {
    const generation = ++this.generation;
    // Ends once, even when the client reports both an error and the end of the stream.
    const ended = () => {
      if (this.stopped || generation !== this.generation) return;
      this.generation++;
      setTimeout(() => void this.watch().catch(() => this.retry()), 50);
    };
    this.abort = await new k8s.Watch(this.kc).watch(
      this.path,
      {
        labelSelector: this.labelSelector,
        ...(this.resourceVersion ? { resourceVersion: this.resourceVersion, allowWatchBookmarks: true } : {}),
      },
      (type, obj: T) => {
        if (type === 'ERROR') {
          this.resourceVersion = undefined; // 410 Gone: start over from "now"
          return;
        }
        if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        this.events.push({ type, obj });
        if (type === 'DELETED') this.latestByName.delete(obj.metadata!.name!);
        else this.latestByName.set(obj.metadata!.name!, obj);
        for (const w of [...this.waiters]) w();
      },
      ended,
    );
  }

  private retry(): void {
    if (!this.stopped) setTimeout(() => void this.watch().catch(() => this.retry()), 200);
  }

  latest(name: string): T | undefined {
    return this.latestByName.get(name);
  }

  all(): T[] {
    return [...this.latestByName.values()];
  }

  /** Resolves with the first truthy value of `probe`, re-evaluated on every event. */
  until<R>(what: string, probe: (r: this) => R | undefined | false, timeoutMs = 20_000): Promise<R> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe(this);
        if (v) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

export function kubevirtPath(namespace: string, plural: string): string {
  return `/apis/kubevirt.io/v1/namespaces/${namespace}/${plural}`;
}

export function podsPath(namespace: string): string {
  return `/api/v1/namespaces/${namespace}/pods`;
}

export interface VmShape {
  runStrategy?: RunStrategy;
  running?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Undefined: no interfaces or networks (KubeVirt defaults them to bridge on the pod network). */
  interfaces?: Interface[];
  evictionStrategy?: EvictionStrategy;
}

/** A minimal valid VirtualMachine with its interface on the pod network. */
export function virtualMachine(namespace: string, name: string, shape: VmShape = {}): VirtualMachine {
  const spec: VirtualMachine['spec']['template']['spec'] = {
    domain: {
      devices: { ...(shape.interfaces ? { interfaces: shape.interfaces } : {}) },
      resources: { requests: { memory: '128Mi' } },
    },
  };
  if (shape.interfaces) spec.networks = [{ name: shape.interfaces[0]!.name, pod: {} }];
  if (shape.evictionStrategy) spec.evictionStrategy = shape.evictionStrategy;
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name, namespace, labels: { 'kubevirt.io/vm': name } },
    spec: {
      ...(shape.running !== undefined
        ? { running: shape.running }
        : { runStrategy: shape.runStrategy ?? 'Always' }),
      template: {
        metadata: { labels: shape.labels ?? {}, annotations: shape.annotations ?? {} },
        spec,
      },
    },
  };
}

/** The phases of a list of objects' `status.phase`, consecutive repeats collapsed. */
export function phaseSequence(objs: { status?: { phase?: string } }[]): string[] {
  const out: string[] = [];
  for (const o of objs) {
    const p = o.status?.phase;
    if (p && out.at(-1) !== p) out.push(p);
  }
  return out;
}
