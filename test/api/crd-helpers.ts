// CRD helpers for the API suites. CRDs go to the API server in wire form (kubeJson), the same form
// the merge and the guard work on, so what is compared is exactly what the API server stores.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { readWireCrds } from '../../hack/crdgen/read.js';
import { kubeJson, KubeApiError } from '../../src/api/kube-json.js';
import type { WireCrd } from '../../src/api/crd-merge.js';
import { waitFor } from '../env/processes.js';

export { capkOriginalCrds } from '../../hack/crdgen/upstream.js';
export { readWireCrds };

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The committed, merged CRDs of crds/. */
export const mergedCrds = (): WireCrd[] => readWireCrds(join(repoRoot, 'crds'));

const crdPath = (name?: string): string =>
  `/apis/apiextensions.k8s.io/v1/customresourcedefinitions${name ? `/${name}` : ''}`;

export async function readCrd(kc: k8s.KubeConfig, name: string): Promise<WireCrd> {
  return kubeJson<WireCrd>(kc, { method: 'GET', path: crdPath(name) });
}

/** Creates or replaces each CRD as given (wire form), then waits until each serves its schema. */
export async function applyWireCrds(kc: k8s.KubeConfig, crds: WireCrd[]): Promise<void> {
  for (const crd of crds) {
    const body = structuredClone(crd);
    try {
      const existing = await readCrd(kc, crd.metadata.name);
      body.metadata.resourceVersion = existing.metadata.resourceVersion;
      await kubeJson(kc, { method: 'PUT', path: crdPath(crd.metadata.name), body });
    } catch (e) {
      if (!(e instanceof KubeApiError) || e.code !== 404) throw e;
      await kubeJson(kc, { method: 'POST', path: crdPath(), body });
    }
  }
  for (const crd of crds) {
    await waitFor(
      `CRD ${crd.metadata.name} Established`,
      async () => {
        const c = (await readCrd(kc, crd.metadata.name)) as WireCrd & {
          status?: { conditions?: { type: string; status: string }[] };
        };
        return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')
          ? true
          : undefined;
      },
      30_000,
    );
  }
}
