// What a test needs to talk to the shared test control plane.
import { randomBytes } from 'node:crypto';
import { request, type RequestOptions } from 'node:https';
import * as k8s from '@kubernetes/client-node';

export function testKubeConfig(): k8s.KubeConfig {
  const path = process.env.CAPK_PODNET_TEST_KUBECONFIG;
  if (!path) throw new Error('CAPK_PODNET_TEST_KUBECONFIG is not set: run tests through jest (global setup)');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A fresh namespace per suite; the API server has no namespace controller, so it is left to the run's end. */
export async function createTestNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/**
 * A raw JSON request to the API server. client-node's typed serializers map schema keys such as
 * `enum` and `x-kubernetes-validations` to TS names and silently drop them from plain objects, so
 * CRDs and other schema-bearing objects are sent as they are.
 */
export async function kubeRequest<T = unknown>(
  kc: k8s.KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      new URL(path, cluster.server),
      {
        ...opts,
        method,
        headers: { ...(opts.headers ?? {}), accept: 'application/json', 'content-type': contentType },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve((text ? JSON.parse(text) : undefined) as T);
          reject(new KubeRequestError(method, path, status, text));
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

export class KubeRequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly code: number,
    readonly body: string,
  ) {
    super(`${method} ${path}: ${code} ${body.slice(0, 500)}`);
  }
}
