// Toy kinds for the runtime's tests and benchmark: Widgets (reconciled), Gadgets (owned by Widgets),
// ToyClusters (an owner Cluster with spec.paused, shaped like Cluster API's). Installed by each suite.
import type * as k8s from '@kubernetes/client-node';
import type { ResourceRef } from '../../src/runtime/index.js';

export const TOY_GROUP = 'test.capk-podnet.io';

function crd(kind: string, plural: string): k8s.V1CustomResourceDefinition {
  // Raw API field names (as in CRD YAML), not client-node's camel-cased model.
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${TOY_GROUP}` },
    spec: {
      group: TOY_GROUP,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      ],
    },
  };
  return crd as unknown as k8s.V1CustomResourceDefinition;
}

export const toyCrds = (): k8s.V1CustomResourceDefinition[] => [
  crd('Widget', 'widgets'),
  crd('Gadget', 'gadgets'),
  crd('ToyCluster', 'toyclusters'),
];

const ref = (kind: string, plural: string): ResourceRef => ({
  group: TOY_GROUP,
  version: 'v1',
  kind,
  plural,
  namespaced: true,
});

export const Widgets = ref('Widget', 'widgets');
export const Gadgets = ref('Gadget', 'gadgets');
export const ToyClusters = ref('ToyCluster', 'toyclusters');

/** Polls until fn returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
