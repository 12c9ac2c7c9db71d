// The CRD guard (upgrade safety). `clusterctl upgrade` or capk's own install re-applies capk's
// CRDs without the network schema; the API server then prunes spec.network and status.network on
// the next write by anyone. The manager calls `ensureNetworkSchema` at start and whenever one of
// capk's CRDs changes: it merges the network schema back into whatever capk CRD is live (so a newer
// capk schema is kept), waits until it is served, then `restoreFromBackups` puts back the
// network fields that were pruned meanwhile. While the schema is missing, controllers must not act
// (`NetworkSchemaMissing`): a write of theirs would be pruned too.
import type * as k8s from '@kubernetes/client-node';
import { kubeJson, KubeApiError, resourcePath } from './kube-json.js';
import {
  CAPK_CRDS,
  CAPK_GROUP,
  mergeNetworkSchema,
  networkSchemaDrift,
  type CapkKind,
  type WireCrd,
} from './crd-merge.js';
import { restorePatches, type NetworkedObject } from './backup.js';
import { waitFor } from './wait.js';

export const GUARD_FIELD_MANAGER = 'capk-podnet-crd-guard';

export type SchemaState =
  /** The CRD carries the current network schema. */
  | { kind: CapkKind; state: 'ok' }
  /** The CRD lacks it or has an older one; `drift` names the places. */
  | { kind: CapkKind; state: 'missing'; drift: string[] }
  /** capk is not installed (yet). */
  | { kind: CapkKind; state: 'no-crd' };

const crdPath = (name: string): string => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;

async function readCrd(kc: k8s.KubeConfig, kind: CapkKind): Promise<WireCrd | undefined> {
  try {
    return await kubeJson<WireCrd>(kc, { method: 'GET', path: crdPath(CAPK_CRDS[kind].crdName) });
  } catch (e) {
    if (e instanceof KubeApiError && e.code === 404) return undefined;
    throw e;
  }
}

const kinds = Object.keys(CAPK_CRDS) as CapkKind[];

/** Read-only: which of capk's CRDs lack the network schema. */
export async function inspectNetworkSchema(kc: k8s.KubeConfig): Promise<SchemaState[]> {
  return Promise.all(
    kinds.map(async (kind): Promise<SchemaState> => {
      const crd = await readCrd(kc, kind);
      if (!crd) return { kind, state: 'no-crd' };
      const drift = networkSchemaDrift(crd);
      return drift.length ? { kind, state: 'missing', drift } : { kind, state: 'ok' };
    }),
  );
}

export interface GuardResult {
  kind: CapkKind;
  action: 'unchanged' | 'restored' | 'no-crd';
  drift: string[];
}

/**
 * Merges the network schema into every capk CRD that lacks it (idempotent: a CRD that has it is
 * not written) and waits until the API server serves it. Conflicts (someone else writing the
 * CRD at the same moment) are retried over a fresh read.
 */
export async function ensureNetworkSchema(
  kc: k8s.KubeConfig,
  opts: { timeoutMs?: number; probeNamespace?: string } = {},
): Promise<GuardResult[]> {
  const results: GuardResult[] = [];
  for (const kind of kinds) {
    for (let attempt = 0; ; attempt++) {
      const crd = await readCrd(kc, kind);
      if (!crd) {
        results.push({ kind, action: 'no-crd', drift: [] });
        break;
      }
      const drift = networkSchemaDrift(crd);
      if (!drift.length) {
        results.push({ kind, action: 'unchanged', drift });
        break;
      }
      const merged = mergeNetworkSchema(crd);
      try {
        await kubeJson(kc, {
          method: 'PUT',
          path: crdPath(crd.metadata.name),
          body: { ...merged, status: undefined },
          fieldManager: GUARD_FIELD_MANAGER,
        });
        results.push({ kind, action: 'restored', drift });
        break;
      } catch (e) {
        if (!(e instanceof KubeApiError) || e.code !== 409 || attempt >= 5) throw e;
      }
    }
  }
  for (const r of results)
    if (r.action === 'restored')
      await waitForNetworkSchemaServed(kc, r.kind, opts.timeoutMs ?? 30_000, opts.probeNamespace);
  return results;
}

/**
 * A CRD update is served a moment after it is stored. Probes with a server-side dry-run create:
 * the schema is served when spec.network survives pruning.
 */
export async function waitForNetworkSchemaServed(
  kc: k8s.KubeConfig,
  kind: CapkKind,
  timeoutMs = 30_000,
  namespace = 'default',
): Promise<void> {
  const probe = probeObject(kind);
  await waitFor(
    `${kind} network schema served`,
    async () => {
      const out = await kubeJson<{ spec?: Record<string, unknown> }>(kc, {
        method: 'POST',
        path: resourcePath({
          group: CAPK_GROUP,
          version: 'v1alpha1',
          plural: CAPK_CRDS[kind].plural,
          namespace,
        }),
        body: { ...probe, metadata: { generateName: 'capk-podnet-schema-probe-' } },
        dryRun: true,
      });
      const spec = kind.endsWith('Template')
        ? (out.spec?.template as { spec?: Record<string, unknown> } | undefined)?.spec
        : out.spec;
      return spec?.network !== undefined ? true : undefined;
    },
    timeoutMs,
  );
}

function probeObject(kind: CapkKind): Record<string, unknown> {
  const clusterNet = { ipam: { cidrs: ['192.0.2.0/24'] } };
  const spec =
    kind === 'KubevirtCluster'
      ? { network: clusterNet }
      : kind === 'KubevirtMachine'
        ? { network: {} }
        : undefined;
  const templateSpec =
    kind === 'KubevirtClusterTemplate'
      ? { network: clusterNet }
      : kind === 'KubevirtMachineTemplate'
        ? { network: {} }
        : undefined;
  return {
    apiVersion: `${CAPK_GROUP}/v1alpha1`,
    kind,
    spec: spec ?? { template: { spec: templateSpec } },
  };
}

export interface RestoreResult {
  kind: 'KubevirtCluster' | 'KubevirtMachine';
  namespace: string;
  name: string;
  restored: ('spec' | 'status')[];
}

/**
 * After the schema is back: puts back spec.network / status.network of every KubevirtCluster and
 * KubevirtMachine that lost them but has a backup annotation. Templates are immutable once created
 * and are not restored (see docs/api.md).
 */
export async function restoreFromBackups(
  kc: k8s.KubeConfig,
  opts: { namespace?: string } = {},
): Promise<RestoreResult[]> {
  const out: RestoreResult[] = [];
  for (const kind of ['KubevirtCluster', 'KubevirtMachine'] as const) {
    const base = { group: CAPK_GROUP, version: 'v1alpha1', plural: CAPK_CRDS[kind].plural };
    const list = await kubeJson<{
      items: (NetworkedObject & { metadata: { name: string; namespace: string } })[];
    }>(kc, {
      method: 'GET',
      path: resourcePath({ ...base, ...(opts.namespace && { namespace: opts.namespace }) }),
    });
    for (const obj of list.items) {
      const patches = restorePatches(obj);
      const at = { ...base, namespace: obj.metadata.namespace, name: obj.metadata.name };
      const restored: RestoreResult['restored'] = [];
      if (patches.spec) {
        await kubeJson(kc, {
          method: 'PATCH',
          path: resourcePath(at),
          body: patches.spec,
          fieldManager: GUARD_FIELD_MANAGER,
        });
        restored.push('spec');
      }
      if (patches.status) {
        await kubeJson(kc, {
          method: 'PATCH',
          path: resourcePath({ ...at, subresource: 'status' }),
          body: patches.status,
          fieldManager: GUARD_FIELD_MANAGER,
        });
        restored.push('status');
      }
      if (restored.length)
        out.push({ kind, namespace: obj.metadata.namespace, name: obj.metadata.name, restored });
    }
  }
  return out;
}

/**
 * The manager's entry point, at start and on every change of a capk CRD: restore the schema
 * where it is missing, then the data that was pruned meanwhile. `schemaReady` false means the
 * controllers must hold (capk not installed yet).
 */
export interface GuardRun {
  /** False while capk is not installed: controllers must hold. */
  schemaReady: boolean;
  crds: GuardResult[];
  restored: RestoreResult[];
}

export async function guardNetworkSchema(kc: k8s.KubeConfig): Promise<GuardRun> {
  const crds = await ensureNetworkSchema(kc);
  const schemaReady = crds.every((c) => c.action !== 'no-crd');
  const restored =
    schemaReady && crds.some((c) => c.action === 'restored') ? await restoreFromBackups(kc) : [];
  return { schemaReady, crds, restored };
}

/** True for the names of capk's CRDs, for the manager's CRD watch. */
export const isCapkCrdName = (name: string): boolean =>
  Object.values(CAPK_CRDS).some((c) => c.crdName === name);
