// A thin JSON edge to the API server for objects whose wire form matters (CRD schemas with
// `default`, `x-kubernetes-*`; merge patches built by hand): it sends and returns the JSON as the
// API server speaks it, without client-node's model mapping (which renames such keys in its types).
import { request, type RequestOptions } from 'node:https';
import type * as k8s from '@kubernetes/client-node';

export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export type PatchType = 'merge' | 'json' | 'strategic';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  patchType?: PatchType;
  fieldManager?: string;
  /** Server-side dry run: full validation and defaulting, nothing stored. */
  dryRun?: boolean;
}

export async function kubeJson<T = unknown>(kc: k8s.KubeConfig, req: KubeRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + req.path);
  if (req.fieldManager) url.searchParams.set('fieldManager', req.fieldManager);
  if (req.dryRun) url.searchParams.set('dryRun', 'All');
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const opts: RequestOptions = {
    method: req.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers: {
      accept: 'application/json',
      ...(payload !== undefined && {
        'content-type':
          req.method === 'PATCH' ? patchContentType[req.patchType ?? 'merge'] : 'application/json',
      }),
    },
  };
  await kc.applyToHTTPSOptions(opts);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const r = request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    r.on('error', reject);
    if (payload !== undefined) r.write(payload);
    r.end();
  });
  const body: unknown = text ? JSON.parse(text) : undefined;
  if (status >= 400) {
    const s = (body ?? {}) as { message?: string; reason?: string };
    throw new KubeApiError(status, s.reason ?? '', s.message ?? `HTTP ${status}`, body);
  }
  return body as T;
}

/** The REST path of a resource: `/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>][/<sub>]`. */
export function resourcePath(r: {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return [
    base,
    r.namespace ? `/namespaces/${r.namespace}` : '',
    `/${r.plural}`,
    r.name ? `/${r.name}` : '',
    r.subresource ? `/${r.subresource}` : '',
  ].join('');
}
