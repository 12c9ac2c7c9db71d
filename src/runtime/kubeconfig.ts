// Connection settings for an API server, loaded without @kubernetes/client-node where possible.
// Why: importing client-node's KubeConfig pulls in its whole generated API (~70 MB of RSS), more
// than the controller's cache of 5,000 objects. The common kubeconfigs (token, token file, client
// certificates, CA, in-cluster service account) are read here; anything else (exec or auth-provider
// plugins) falls back to client-node's KubeConfig, loaded on demand. client-node's KubeConfig
// satisfies KubeConnection too, so callers may pass one directly.
import { readFileSync } from 'node:fs';
import type * as https from 'node:https';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface KubeConnection {
  getCurrentCluster(): { server: string } | null;
  /** Puts TLS material and auth headers into request options (per request: tokens may rotate). */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

type Rec = Record<string, unknown>;

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

class StaticConnection implements KubeConnection {
  private tokenCache?: { value: string; at: number };

  constructor(
    private readonly server: string,
    private readonly tls: {
      ca?: Buffer;
      cert?: Buffer;
      key?: Buffer;
      insecure?: boolean;
      servername?: string;
    },
    private readonly auth: { token?: string; tokenFile?: string; basic?: string },
  ) {}

  getCurrentCluster(): { server: string } {
    return { server: this.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    if (this.tls.ca) opts.ca = this.tls.ca;
    if (this.tls.cert) opts.cert = this.tls.cert;
    if (this.tls.key) opts.key = this.tls.key;
    if (this.tls.insecure) opts.rejectUnauthorized = false;
    if (this.tls.servername) opts.servername = this.tls.servername;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    const token = this.token();
    if (token) headers.authorization = `Bearer ${token}`;
    else if (this.auth.basic)
      headers.authorization = `Basic ${Buffer.from(this.auth.basic).toString('base64')}`;
  }

  /** A token file is re-read each minute (projected service-account tokens rotate). */
  private token(): string | undefined {
    if (this.auth.token) return this.auth.token;
    if (!this.auth.tokenFile) return undefined;
    const now = Date.now();
    if (!this.tokenCache || now - this.tokenCache.at > 60_000)
      this.tokenCache = { value: readFileSync(this.auth.tokenFile, 'utf8').trim(), at: now };
    return this.tokenCache.value;
  }
}

/** In-cluster settings from the service account, as kubelet mounts it. */
export function inClusterConnection(): KubeConnection {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST is not set');
  const h = host.includes(':') ? `[${host}]` : host;
  return new StaticConnection(
    `https://${h}:${port}`,
    { ca: readFileSync(join(SA_DIR, 'ca.crt')) },
    { tokenFile: join(SA_DIR, 'token') },
  );
}

/**
 * Parses a kubeconfig (YAML or JSON) for its current context. Returns undefined when the user
 * authenticates through a plugin this loader does not implement (exec, auth-provider).
 */
export function parseKubeconfig(text: string, baseDir = process.cwd()): KubeConnection | undefined {
  const doc = parse(text) as Rec;
  const find = <T>(list: unknown, name: unknown, field: 'cluster' | 'user' | 'context'): T => {
    const hit = ((list as Named<T>[] | undefined) ?? []).find((x) => x.name === name);
    if (!hit?.[field]) throw new Error(`kubeconfig: ${field} "${String(name)}" not found`);
    return hit[field]!;
  };
  const current = doc['current-context'];
  const ctx = find<Rec>(doc.contexts, current, 'context');
  const cluster = find<Rec>(doc.clusters, ctx.cluster, 'cluster');
  const user: Rec = ctx.user ? find<Rec>(doc.users, ctx.user, 'user') : {};
  if (user.exec || user['auth-provider']) return undefined;
  const file = (p: unknown) => readFileSync(isAbsolute(String(p)) ? String(p) : join(baseDir, String(p)));
  const data = (inline: unknown, path: unknown): Buffer | undefined =>
    inline ? Buffer.from(String(inline), 'base64') : path ? file(path) : undefined;
  if (typeof cluster.server !== 'string') throw new Error('kubeconfig: cluster has no server');
  return new StaticConnection(
    cluster.server,
    {
      ca: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
      cert: data(user['client-certificate-data'], user['client-certificate']),
      key: data(user['client-key-data'], user['client-key']),
      insecure: cluster['insecure-skip-tls-verify'] === true,
      servername: cluster['tls-server-name'] as string | undefined,
    },
    {
      token: user.token as string | undefined,
      tokenFile: user.tokenFile ? String(user.tokenFile) : undefined,
      basic: user.username ? `${String(user.username)}:${String(user.password ?? '')}` : undefined,
    },
  );
}

/** parseKubeconfig, else client-node's full KubeConfig (plugins). */
export async function connectionFromKubeconfig(text: string, baseDir?: string): Promise<KubeConnection> {
  const light = parseKubeconfig(text, baseDir);
  if (light) return light;
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromString(text);
  return kc;
}

/**
 * The connection for a process: an explicit kubeconfig path, else in-cluster when in a pod, else
 * $KUBECONFIG (first path) or ~/.kube/config.
 */
export async function loadConnection(kubeconfigPath?: string): Promise<KubeConnection> {
  if (!kubeconfigPath && process.env.KUBERNETES_SERVICE_HOST) return inClusterConnection();
  const path =
    kubeconfigPath ??
    process.env.KUBECONFIG?.split(':').find((p) => p !== '') ??
    join(process.env.HOME ?? '', '.kube', 'config');
  return connectionFromKubeconfig(readFileSync(path, 'utf8'), dirname(path));
}
