// The pool-vs-service-CIDR admission policy on the real API server, whose ServiceCIDR `kubernetes`
// is 10.96.0.0/16 (test/env/kube-control-plane.ts). Bound to this suite's namespace only, so that
// other suites sharing the API server are not affected; removed at the end.
import type * as k8s from '@kubernetes/client-node';
import { kubeJson, KubeApiError, resourcePath } from '../../src/api/kube-json.js';
import { CAPK_GROUP } from '../../src/api/crd-merge.js';
import { serviceCidrPolicy, SERVICE_CIDR_POLICY_NAME } from '../../src/api/admission-policy.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';

const admission = (plural: string, name?: string) =>
  `/apis/admissionregistration.k8s.io/v1/${plural}${name ? `/${name}` : ''}`;

let kc: k8s.KubeConfig;
let ns: string;
beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'api-svc-cidr');
  const { policy, binding } = serviceCidrPolicy({
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  });
  // A unique name per run: the shared API server may hold one from a parallel run.
  const suffix = ns.slice(-6);
  (policy.metadata as { name: string }).name += `-${suffix}`;
  (binding.metadata as { name: string }).name += `-${suffix}`;
  (binding.spec as { policyName: string }).policyName += `-${suffix}`;
  await kubeJson(kc, { method: 'POST', path: admission('validatingadmissionpolicies'), body: policy });
  await kubeJson(kc, { method: 'POST', path: admission('validatingadmissionpolicybindings'), body: binding });
  // Policies take effect a moment after they are stored.
  await waitFor(
    'policy in effect',
    async () => ((await tryCreate(cluster(['10.96.8.0/24']))) ? true : undefined),
    30_000,
  );
});

afterAll(async () => {
  const suffix = ns.slice(-6);
  for (const plural of ['validatingadmissionpolicybindings', 'validatingadmissionpolicies'])
    await kubeJson(kc, {
      method: 'DELETE',
      path: admission(plural, `${SERVICE_CIDR_POLICY_NAME}-${suffix}`),
    }).catch(() => undefined);
});

const cluster = (cidrs: string[], extra: Record<string, unknown> = {}) => ({
  apiVersion: `${CAPK_GROUP}/v1alpha1`,
  kind: 'KubevirtCluster',
  metadata: { name: 'pool' },
  spec: { network: { ipam: { cidrs } }, ...extra },
});

/** Undefined when accepted (dry run), else the rejection. */
async function tryCreate(obj: { kind: string }): Promise<KubeApiError | undefined> {
  const plural = obj.kind === 'KubevirtCluster' ? 'kubevirtclusters' : 'kubevirtclustertemplates';
  try {
    await kubeJson(kc, {
      method: 'POST',
      path: resourcePath({ group: CAPK_GROUP, version: 'v1alpha1', plural, namespace: ns }),
      body: obj,
      dryRun: true,
    });
    return undefined;
  } catch (e) {
    if (e instanceof KubeApiError) return e;
    throw e;
  }
}

test.each([
  [
    'inside the service CIDR',
    ['10.96.8.0/24'],
    'spec.network.ipam.cidrs: 10.96.8.0/24 overlaps the service CIDR 10.96.0.0/16',
  ],
  [
    'containing the service CIDR',
    ['10.0.0.0/8'],
    'spec.network.ipam.cidrs: 10.0.0.0/8 overlaps the service CIDR',
  ],
])('rejects a pool %s, naming the field', async (_what, cidrs, message) => {
  const err = await tryCreate(cluster(cidrs));
  expect(err?.code).toBe(422);
  expect(err?.message).toContain(message);
});

test('rejects it in a KubevirtClusterTemplate too', async () => {
  const err = await tryCreate({
    apiVersion: `${CAPK_GROUP}/v1alpha1`,
    kind: 'KubevirtClusterTemplate',
    metadata: { name: 'pool' },
    spec: { template: { spec: { network: { ipam: { cidrs: ['10.96.0.0/24'] } } } } },
  } as { kind: string });
  expect(err?.message).toContain('spec.template.spec.network.ipam.cidrs: 10.96.0.0/24 overlaps');
});

test.each([
  ['a pool beside the service CIDR', cluster(['10.97.0.0/24'])],
  ['no network', { ...cluster([]), spec: {} }],
  [
    'an external infra cluster (its service CIDR is the controller’s to check)',
    cluster(['10.96.8.0/24'], { infraClusterSecretRef: { name: 'infra-kubeconfig' } }),
  ],
])('accepts %s', async (_what, obj) => {
  expect(await tryCreate(obj)).toBeUndefined();
});
