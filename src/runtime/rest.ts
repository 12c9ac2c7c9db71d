// A small JSON REST client for the Kubernetes API on node:http(s), driven by a KubeConnection
// (ours, or client-node's KubeConfig).
// Why not client-node's typed APIs: they turn objects into classes with Date fields (so list and
// watch disagree on timestamp types) and create a new TLS agent per call. Here every object is the
// server's JSON as parsed, one keep-alive agent serves all calls, and watches are plain streams.
import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConnection } from './kubeconfig.js';
import type { KubeObject, ResourceRef } from './types.js';

/** An API error with the HTTP status and the Status reason ("NotFound", "Conflict", "Expired"...). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.code === 410;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Socket inactivity before the request is abandoned (default 30 s); also covers half-open sockets. */
  idleTimeoutMs?: number;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export const PatchType = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** Told of every answered request (method, HTTP status), e.g. to count writes in metrics. */
export type RequestObserver = (method: string, code: number) => void;

export class RestClient {
  private agent?: http.Agent;
  private readonly server: URL;

  constructor(
    readonly kubeConfig: KubeConnection,
    private readonly observe?: RequestObserver,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  get host(): string {
    return this.server.host;
  }

  /** Closes idle keep-alive sockets; open watches end on their own. */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    this.observe?.(method, res.statusCode ?? 0);
    const text = await readBody(res);
    if ((res.statusCode ?? 0) >= 300) throw toApiError(res.statusCode ?? 0, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Opens a streaming GET (watch); the caller reads and destroys the response. */
  async stream(path: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const res = await this.send('GET', path, opts);
    this.observe?.('WATCH', res.statusCode ?? 0);
    if ((res.statusCode ?? 0) >= 300) throw toApiError(res.statusCode ?? 0, await readBody(res));
    return res;
  }

  // ---- typed helpers over resource refs ----

  async get<T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request<T>('GET', resourcePath(ref, namespace, name));
  }

  /** Like get, but undefined on 404. */
  async tryGet<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    namespace?: string,
  ): Promise<T | undefined> {
    try {
      return await this.get<T>(ref, name, namespace);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T extends KubeObject>(
    ref: ResourceRef,
    opts: {
      namespace?: string;
      labelSelector?: string;
      fieldSelector?: string;
      limit?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.request<{
        items: T[];
        metadata: { resourceVersion: string; continue?: string };
      }>('GET', resourcePath(ref, opts.namespace), {
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.limit ?? 500,
          continue: cont,
        },
        signal: opts.signal,
      });
      for (const item of page.items) {
        // Lists omit apiVersion/kind on items; put them back so objects look the same everywhere.
        item.apiVersion = apiVersionOf(ref);
        item.kind = ref.kind;
        items.push(item);
      }
      resourceVersion = page.metadata.resourceVersion;
      cont = page.metadata.continue || undefined;
    } while (cont);
    return { items, resourceVersion };
  }

  async create<T extends KubeObject>(ref: ResourceRef, obj: T): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, obj.metadata.namespace), { body: withGvk(ref, obj) });
  }

  async update<T extends KubeObject>(ref: ResourceRef, obj: T): Promise<T> {
    return this.request<T>('PUT', resourcePath(ref, obj.metadata.namespace, obj.metadata.name), {
      body: withGvk(ref, obj),
    });
  }

  async patch<T extends KubeObject>(
    ref: ResourceRef,
    name: string,
    namespace: string | undefined,
    patch: unknown,
    opts: { type?: string; subresource?: string; fieldManager?: string; force?: boolean } = {},
  ): Promise<T> {
    const path = resourcePath(ref, namespace, name) + (opts.subresource ? `/${opts.subresource}` : '');
    return this.request<T>('PATCH', path, {
      body: patch,
      contentType: opts.type ?? PatchType.merge,
      query: { fieldManager: opts.fieldManager, force: opts.force },
    });
  }

  /** Server-side apply: the object is the full intent of fieldManager. */
  async apply<T extends KubeObject>(
    ref: ResourceRef,
    obj: T,
    opts: { fieldManager: string; force?: boolean; subresource?: string },
  ): Promise<T> {
    return this.patch<T>(ref, obj.metadata.name, obj.metadata.namespace, withGvk(ref, obj), {
      type: PatchType.apply,
      fieldManager: opts.fieldManager,
      force: opts.force ?? true,
      subresource: opts.subresource,
    });
  }

  /**
   * Deletes; true if it was there. With `uid`, only that object: a newer one under the same name
   * (its name freed and taken again meanwhile) is left alone, as if gone.
   */
  async delete(
    ref: ResourceRef,
    name: string,
    namespace?: string,
    opts: { uid?: string } = {},
  ): Promise<boolean> {
    try {
      await this.request(
        'DELETE',
        resourcePath(ref, namespace, name),
        opts.uid
          ? { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: opts.uid } } }
          : {},
      );
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      if (opts.uid && isConflict(e)) return false;
      throw e;
    }
  }

  private async send(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const url = new URL(this.server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: {} };
    // Auth headers and TLS material from the kubeconfig (tokens may rotate, so per call).
    await this.kubeConfig.applyToHTTPSOptions(reqOpts);
    delete reqOpts.agent;
    const headers = (reqOpts.headers ?? {}) as Record<string, string>;
    headers.accept = 'application/json';
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    reqOpts.headers = headers;
    const isHttps = url.protocol === 'https:';
    reqOpts.agent = this.agentFor(isHttps, reqOpts);
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(url, reqOpts, resolve);
      req.on('error', reject);
      const idle = opts.idleTimeoutMs ?? 30_000;
      req.setTimeout(idle, () => req.destroy(new Error(`no data for ${idle} ms from ${url.host}`)));
      const signal = opts.signal;
      if (signal) {
        if (signal.aborted) req.destroy(new Error('aborted'));
        else {
          // An informer passes one signal to every list and watch of its life: a listener left
          // behind by each finished request would pile up on it.
          const abort = () => req.destroy(new Error('aborted'));
          signal.addEventListener('abort', abort, { once: true });
          req.once('close', () => signal.removeEventListener('abort', abort));
        }
      }
      req.end(payload);
    });
  }

  private agentFor(isHttps: boolean, o: https.RequestOptions): http.Agent {
    if (this.agent) return this.agent;
    this.agent = isHttps
      ? new https.Agent({
          keepAlive: true,
          ca: o.ca,
          cert: o.cert,
          key: o.key,
          ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
          ...(o.servername ? { servername: o.servername } : {}),
        })
      : new http.Agent({ keepAlive: true });
    return this.agent;
  }
}

export function apiVersionOf(ref: ResourceRef): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${ref.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

function withGvk<T extends KubeObject>(ref: ResourceRef, obj: T): T {
  return { ...obj, apiVersion: apiVersionOf(ref), kind: ref.kind };
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function toApiError(code: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(code, s.reason ?? '', s.message ?? text);
  } catch {
    return new ApiError(code, '', text || `HTTP ${code}`);
  }
}
