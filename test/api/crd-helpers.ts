// CRD helpers for the API suites: CRDs are read in wire form (kubeJson), the form the merge and the
// guard work on, so what is compared is exactly what the API server stores.
import type * as k8s from '@kubernetes/client-node';
import { kubeJson } from '../../src/api/kube-json.js';
import type { WireCrd } from '../../src/api/crd-merge.js';
import { installCrds } from '../env/crds.js';

export { capkOriginalCrds } from '../../hack/crdgen/upstream.js';

export async function readCrd(kc: k8s.KubeConfig, name: string): Promise<WireCrd> {
  return kubeJson<WireCrd>(kc, {
    method: 'GET',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
  });
}

/**
 * Creates or replaces each CRD and waits until it is Established, with the project's installer
 * (client-node keeps `default` and `x-kubernetes-*`: the compatibility suite proves it).
 */
export async function applyWireCrds(kc: k8s.KubeConfig, crds: WireCrd[]): Promise<void> {
  await installCrds(kc, crds as unknown as k8s.V1CustomResourceDefinition[]);
}
