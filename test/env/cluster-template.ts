// Renders a clusterctl cluster template the way `clusterctl generate cluster` does for variables:
// ${VAR}, ${VAR:=default} and ${VAR:-default}; every variable without a value or default is an
// error naming it. (The real command also fetches templates from provider repositories.)
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { KubevirtClusters, KubevirtMachineTemplates } from '../../src/capk/resources.js';
import { ClusterResource, type KubeObject, type ResourceRef } from '../../src/runtime/index.js';

const VARIABLE = /\$\{([A-Z_][A-Z0-9_]*)(?::?[=-]([^}]*))?\}/g;

export function templateVariables(text: string): string[] {
  return [...new Set([...text.matchAll(VARIABLE)].map((m) => m[1]!))].sort();
}

export function renderTemplate(text: string, vars: Record<string, string>): string {
  const missing = new Set<string>();
  const out = text.replace(VARIABLE, (_all, name: string, def: string | undefined) => {
    const v = vars[name] ?? def;
    if (v === undefined) missing.add(name);
    return v ?? '';
  });
  if (missing.size) throw new Error(`value for variables [${[...missing].sort().join(', ')}] is not set`);
  return out;
}

export function renderTemplateFile(path: string, vars: Record<string, string>): KubeObject[] {
  return parseAllDocuments(renderTemplate(readFileSync(path, 'utf8'), vars))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

/**
 * The template's kinds that this API server serves (capk's with the network fields, Cluster API's
 * Cluster as the template writes it); bootstrap and control-plane providers are not installed here.
 */
export const TEMPLATE_KINDS_SERVED: Record<string, ResourceRef> = {
  Cluster: { ...ClusterResource, version: 'v1beta1' },
  KubevirtCluster: KubevirtClusters,
  KubevirtMachineTemplate: KubevirtMachineTemplates,
};
