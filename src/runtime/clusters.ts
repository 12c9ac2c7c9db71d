// Clients per infra cluster. capk reads its kinds in the management cluster and acts on the infra
// cluster: the same cluster, or the one whose kubeconfig is in the Secret named by
// `infraClusterSecretRef` (key `kubeconfig`, optional key `namespace`). Clients are cached per
// Secret and rebuilt when the Secret's resourceVersion changes (rotated credentials, moved cluster).
import { TerminalError } from './controller.js';
import { connectionFromKubeconfig, type KubeConnection } from './kubeconfig.js';
import { RestClient } from './rest.js';
import { Secrets, type KubeObject } from './types.js';

export interface SecretRef {
  name: string;
  namespace?: string;
}

export interface InfraCluster {
  client: RestClient;
  /** Namespace for infra objects: the Secret's `namespace` key, else the caller's default. */
  namespace: string;
  /** True when this is the management cluster itself. */
  local: boolean;
}

type Secret = KubeObject & { data?: Record<string, string> };

export class InfraClusters {
  private readonly cache = new Map<string, { resourceVersion: string; cluster: InfraCluster }>();
  /** Number of clients built from Secrets, for tests and debugging. */
  builds = 0;

  constructor(private readonly managementClient: RestClient) {}

  /**
   * The infra cluster for an object. `secretRef` missing → the management cluster with
   * `defaultNamespace`. A Secret lacking the `kubeconfig` key is a TerminalError (a user mistake
   * no retry fixes); a missing Secret is an ordinary error (it may appear).
   */
  async get(secretRef: SecretRef | undefined, defaultNamespace: string): Promise<InfraCluster> {
    if (!secretRef?.name) return { client: this.managementClient, namespace: defaultNamespace, local: true };
    const ns = secretRef.namespace ?? defaultNamespace;
    const secret = await this.managementClient.get<Secret>(Secrets, secretRef.name, ns);
    const key = `${ns}/${secretRef.name}`;
    const rv = secret.metadata.resourceVersion ?? '';
    const hit = this.cache.get(key);
    if (hit && hit.resourceVersion === rv) return hit.cluster;
    const raw = secret.data?.kubeconfig;
    if (!raw) throw new TerminalError(`secret ${key} has no "kubeconfig" key`);
    let kc: KubeConnection;
    try {
      kc = await connectionFromKubeconfig(Buffer.from(raw, 'base64').toString('utf8'));
    } catch (e) {
      throw new TerminalError(`secret ${key}: invalid kubeconfig`, { cause: e });
    }
    const nsData = secret.data?.namespace;
    const cluster: InfraCluster = {
      client: new RestClient(kc),
      namespace: nsData ? Buffer.from(nsData, 'base64').toString('utf8') : defaultNamespace,
      local: false,
    };
    hit?.cluster.client.close();
    this.cache.set(key, { resourceVersion: rv, cluster });
    this.builds++;
    return cluster;
  }

  /** Drops a cached client (e.g. when its Secret was deleted). */
  forget(secretRef: SecretRef, defaultNamespace: string): void {
    const key = `${secretRef.namespace ?? defaultNamespace}/${secretRef.name}`;
    this.cache.get(key)?.cluster.client.close();
    this.cache.delete(key);
  }

  close(): void {
    for (const { cluster } of this.cache.values()) cluster.client.close();
    this.cache.clear();
  }
}
