// Pure: where capk-podnet's network schema goes in each of capk's four CRDs, how to merge it in,
// and how to tell whether a CRD (e.g. re-applied by `clusterctl upgrade`) still carries it.
// Used by the generator (crds/) and by the CRD guard at run time, so both merge the same way.
import { stableJson } from './backup.js';
import type { CelRule, JsonSchema } from './json-schema.js';
import {
  clusterNetworkSpecSchema,
  clusterNetworkStatusSchema,
  conditionObservedGeneration,
  machineNetworkSpecSchema,
  machineNetworkStatusSchema,
  machineSpecRules,
  machineTemplateSpecRules,
} from './network-schema.js';

export const CAPK_GROUP = 'infrastructure.cluster.x-k8s.io';

export type CapkKind =
  'KubevirtCluster' | 'KubevirtMachine' | 'KubevirtClusterTemplate' | 'KubevirtMachineTemplate';

export const CAPK_CRDS: Record<CapkKind, { plural: string; crdName: string }> = {
  KubevirtCluster: { plural: 'kubevirtclusters', crdName: `kubevirtclusters.${CAPK_GROUP}` },
  KubevirtMachine: { plural: 'kubevirtmachines', crdName: `kubevirtmachines.${CAPK_GROUP}` },
  KubevirtClusterTemplate: {
    plural: 'kubevirtclustertemplates',
    crdName: `kubevirtclustertemplates.${CAPK_GROUP}`,
  },
  KubevirtMachineTemplate: {
    plural: 'kubevirtmachinetemplates',
    crdName: `kubevirtmachinetemplates.${CAPK_GROUP}`,
  },
};

/** A CRD in wire form (as in YAML or the API server's JSON), reduced to what the merge reads. */
export interface WireCrd {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [k: string]: unknown;
  };
  spec: {
    group: string;
    names: { kind: string; [k: string]: unknown };
    versions: { name: string; schema?: { openAPIV3Schema?: JsonSchema }; [k: string]: unknown }[];
    [k: string]: unknown;
  };
  status?: unknown;
}

/** One addition: a property at a path of properties, or CEL rules on the node at that path. */
type Injection = { at: string[]; property: string; schema: JsonSchema } | { at: string[]; rules: CelRule[] };

const injectionsByKind: Record<CapkKind, Injection[]> = {
  KubevirtCluster: [
    { at: ['spec'], property: 'network', schema: clusterNetworkSpecSchema },
    { at: ['status'], property: 'network', schema: clusterNetworkStatusSchema },
    {
      at: ['status', 'conditions', '[]'],
      property: 'observedGeneration',
      schema: conditionObservedGeneration,
    },
  ],
  KubevirtMachine: [
    { at: ['spec'], property: 'network', schema: machineNetworkSpecSchema },
    { at: ['spec'], rules: machineSpecRules ?? [] },
    { at: ['status'], property: 'network', schema: machineNetworkStatusSchema },
    {
      at: ['status', 'conditions', '[]'],
      property: 'observedGeneration',
      schema: conditionObservedGeneration,
    },
  ],
  KubevirtClusterTemplate: [
    { at: ['spec', 'template', 'spec'], property: 'network', schema: clusterNetworkSpecSchema },
  ],
  KubevirtMachineTemplate: [
    { at: ['spec', 'template', 'spec'], property: 'network', schema: machineNetworkSpecSchema },
    { at: ['spec', 'template', 'spec'], rules: machineTemplateSpecRules ?? [] },
  ],
};

export function capkKindOf(crd: WireCrd): CapkKind | undefined {
  if (crd.spec.group !== CAPK_GROUP) return undefined;
  const kind = crd.spec.names.kind;
  return kind in CAPK_CRDS ? (kind as CapkKind) : undefined;
}

/** Walks `properties` (and `items` for '[]'); undefined when capk's schema lacks the path. */
function nodeAt(root: JsonSchema, at: string[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  for (const step of at) {
    node = step === '[]' ? node?.items : node?.properties?.[step];
    if (!node) return undefined;
  }
  return node;
}

const where = (version: string, at: string[], property?: string): string =>
  `${version}: ${[...at, ...(property ? [property] : [])].join('.').replace(/\.\[\]/g, '[]')}`;

/**
 * What of the network schema a CRD lacks or has different, one line per place
 * (`v1alpha1: spec.network`); empty when the CRD carries exactly the current schema.
 */
export function networkSchemaDrift(crd: WireCrd): string[] {
  const kind = capkKindOf(crd);
  if (!kind) throw new Error(`${crd.metadata.name} is not one of capk's CRDs`);
  const drift: string[] = [];
  for (const v of crd.spec.versions) {
    const root = v.schema?.openAPIV3Schema;
    for (const inj of injectionsByKind[kind]) {
      const node = root && nodeAt(root, inj.at);
      if ('property' in inj) {
        if (!same(node?.properties?.[inj.property], inj.schema))
          drift.push(where(v.name, inj.at, inj.property));
      } else {
        const have = node?.['x-kubernetes-validations'] ?? [];
        if (!inj.rules.every((r) => have.some((h) => same(h, r))))
          drift.push(`${where(v.name, inj.at)} (x-kubernetes-validations)`);
      }
    }
  }
  return drift;
}

/**
 * capk's CRD with the network schema merged into every version; everything of capk's stays as is.
 * Returns a copy; throws when capk's schema no longer has a place this merge expects.
 */
export function mergeNetworkSchema(crd: WireCrd): WireCrd {
  const kind = capkKindOf(crd);
  if (!kind) throw new Error(`${crd.metadata.name} is not one of capk's CRDs`);
  const out = structuredClone(crd);
  for (const v of out.spec.versions) {
    const root = v.schema?.openAPIV3Schema;
    for (const inj of injectionsByKind[kind]) {
      const node = root && nodeAt(root, inj.at);
      if (!node) throw new Error(`${crd.metadata.name} ${where(v.name, inj.at)}: not in capk's schema`);
      if ('property' in inj) {
        node.properties = sortKeys({ ...node.properties, [inj.property]: structuredClone(inj.schema) });
      } else {
        const rules = node['x-kubernetes-validations'] ?? [];
        const missing = inj.rules.filter((r) => !rules.some((h) => same(h, r)));
        node['x-kubernetes-validations'] = [...rules, ...structuredClone(missing)];
      }
    }
  }
  return out;
}

/** Equal as JSON, whatever the key order (the API server may reorder), undefined members ignored. */
const same = (a: unknown, b: unknown): boolean => a !== undefined && stableJson(a) === stableJson(b);

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
