// Table-driven: every example goes to the real API server (merged CRDs of crds/, installed by the
// global setup) and to the zod schemas; both must accept or both reject, naming the same field;
// for valid input both must apply the same defaults.
import type * as k8s from '@kubernetes/client-node';
import type { z } from 'zod';
import { kubeJson, KubeApiError, resourcePath } from '../../src/api/kube-json.js';
import { CAPK_CRDS, CAPK_GROUP } from '../../src/api/crd-merge.js';
import { clusterNetworkSpec, machineNetworkSpec, machineTemplateNetworkSpec } from '../../src/api/network.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { networkExamples, type ExampleKind } from './network-examples.js';

const isTemplate = (kind: ExampleKind): boolean => kind.endsWith('Template');
const networkPath = (kind: ExampleKind): string =>
  isTemplate(kind) ? 'spec.template.spec.network' : 'spec.network';
const zodFor: Record<ExampleKind, z.ZodType> = {
  KubevirtCluster: clusterNetworkSpec,
  KubevirtClusterTemplate: clusterNetworkSpec,
  KubevirtMachine: machineNetworkSpec,
  KubevirtMachineTemplate: machineTemplateNetworkSpec,
};

function objectWith(kind: ExampleKind, name: string, network: unknown): Record<string, unknown> {
  const spec = isTemplate(kind) ? { template: { spec: { network } } } : { network };
  return { apiVersion: `${CAPK_GROUP}/v1alpha1`, kind, metadata: { name }, spec };
}

const path = (kind: ExampleKind, ns: string, name?: string, subresource?: string): string =>
  resourcePath({
    group: CAPK_GROUP,
    version: 'v1alpha1',
    plural: CAPK_CRDS[kind].plural,
    namespace: ns,
    ...(name && { name }),
    ...(subresource && { subresource }),
  });

const zodPath = (p: PropertyKey[]): string =>
  p.map((s, i) => (typeof s === 'number' ? `[${s}]` : `${i ? '.' : ''}${String(s)}`)).join('');

async function rejection(p: Promise<unknown>): Promise<KubeApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KubeApiError) return e;
    throw e;
  }
  throw new Error('the API server accepted it');
}

let kc: k8s.KubeConfig;
let ns: string;
beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'api-validation');
});

describe('network fields: API server and zod agree', () => {
  const valid = networkExamples.filter((e) => !e.invalid);
  const invalid = networkExamples.filter((e) => e.invalid);

  test.each(valid.map((e) => [e.kind, e.name, e] as const))(
    '%s accepts %s, same defaults',
    async (kind, _n, e) => {
      const out = await kubeJson<{ spec: Record<string, unknown> }>(kc, {
        method: 'POST',
        path: path(kind, ns),
        body: objectWith(kind, 'valid', e.network),
        dryRun: true,
      });
      const served = isTemplate(kind)
        ? (out.spec.template as { spec: { network: unknown } }).spec.network
        : out.spec.network;
      const parsed = zodFor[kind].safeParse(e.network);
      expect(parsed.error?.issues ?? []).toEqual([]);
      expect(served).toEqual(parsed.data);
    },
  );

  test.each(invalid.map((e) => [e.kind, e.name, e] as const))('%s rejects %s', async (kind, _n, e) => {
    const want = e.invalid!;
    const field = `${networkPath(kind)}${want.field ? (want.field.startsWith('[') ? '' : '.') + want.field : ''}`;
    const err = await rejection(
      kubeJson(kc, {
        method: 'POST',
        path: path(kind, ns),
        body: objectWith(kind, 'invalid', e.network),
        dryRun: true,
      }),
    );
    expect(err.code).toBe(422);
    expect(err.message).toContain(`${field}: `);
    expect(err.message).toContain(want.message);

    const parsed = zodFor[kind].safeParse(e.network);
    expect(parsed.success).toBe(false);
    const issues = parsed.error!.issues.map((i) => ({ field: zodPath(i.path), message: i.message }));
    expect(issues).toContainEqual({ field: want.field, message: expect.stringContaining(want.message) });
  });
});

describe('pinned identity is immutable once set', () => {
  const machine = (name: string, network?: Record<string, unknown>) => ({
    apiVersion: `${CAPK_GROUP}/v1alpha1`,
    kind: 'KubevirtMachine',
    metadata: { name },
    spec: { providerID: `kubevirt://${name}`, ...(network && { network }) },
  });
  const patch = (name: string, body: unknown) =>
    kubeJson(kc, { method: 'PATCH', path: path('KubevirtMachine', ns, name), body, patchType: 'merge' });

  test.each([
    [
      'changing the pinned IP',
      { spec: { network: { ipv4: '10.200.0.11' } } },
      'spec.network.ipv4: ',
      'immutable',
    ],
    ['removing the pinned IP', { spec: { network: { ipv4: null } } }, 'spec.network.ipv4: ', 'immutable'],
    ['removing the whole network', { spec: { network: null } }, 'spec.network.ipv4: ', 'immutable'],
    [
      'changing the pinned MAC',
      { spec: { network: { mac: '02:00:00:00:00:0b' } } },
      'spec.network.mac: ',
      'immutable',
    ],
  ])('rejects %s', async (what, body, field, message) => {
    const name = `pinned-${what.toLowerCase().replace(/\W+/g, '-')}`.slice(0, 60);
    await kubeJson(kc, {
      method: 'POST',
      path: path('KubevirtMachine', ns),
      body: machine(name, { ipv4: '10.200.0.10', mac: '02:00:00:00:00:0a' }),
    });
    const err = await rejection(patch(name, body));
    expect(err.code).toBe(422);
    expect(err.message).toContain(field);
    expect(err.message).toContain(message);
  });

  test('allows pinning later, and writes that keep the pin', async () => {
    await kubeJson(kc, { method: 'POST', path: path('KubevirtMachine', ns), body: machine('pin-later') });
    await patch('pin-later', { spec: { network: { ipv4: '10.200.0.12' } } });
    const out = await patch('pin-later', {
      spec: { providerID: 'kubevirt://other', network: { mac: '02:00:00:00:00:0c' } },
    });
    expect((out as { spec: { network: unknown } }).spec.network).toEqual({
      ipv4: '10.200.0.12',
      mac: '02:00:00:00:00:0c',
    });
    const err = await rejection(patch('pin-later', { spec: { network: { ipv4: '10.200.0.13' } } }));
    expect(err.message).toContain('spec.network.ipv4: ');
  });
});

describe('status.network', () => {
  test('rejects an unknown machine phase, keeps a valid status', async () => {
    await kubeJson(kc, {
      method: 'POST',
      path: path('KubevirtMachine', ns),
      body: {
        apiVersion: `${CAPK_GROUP}/v1alpha1`,
        kind: 'KubevirtMachine',
        metadata: { name: 'status' },
        spec: {},
      },
    });
    const status = (network: unknown) =>
      kubeJson<{ status: { network: unknown } }>(kc, {
        method: 'PATCH',
        path: path('KubevirtMachine', ns, 'status', 'status'),
        body: { status: { ready: false, network } },
        patchType: 'merge',
      });
    const err = await rejection(status({ phase: 'Flying' }));
    expect(err.message).toContain('status.network.phase: Unsupported value');
    const network = {
      ipv4: '10.200.0.10',
      mac: '02:00:00:00:00:0a',
      gateway: '169.254.1.1',
      node: 'node-b',
      phase: 'Ready',
      observedGeneration: 1,
      lastMigration: {
        from: 'node-a',
        to: 'node-b',
        startedAt: '2026-01-01T00:00:00Z',
        completedAt: '2026-01-01T00:00:01Z',
        cutoverMilliseconds: 27,
      },
    };
    expect((await status(network)).status.network).toEqual(network);
  });
});
