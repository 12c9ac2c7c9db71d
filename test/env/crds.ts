// Installs CRDs into a test control plane and waits until they serve.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { waitFor } from './processes.js';
import { kubeRequest, KubeRequestError } from './kube.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * CRDs every test run installs: upstream ones generated from Go modules (hack/upstream/crds.sh),
 * then the project's own (crds/), which replace any upstream CRD of the same name.
 */
export function projectCrdFiles(): string[] {
  const files: string[] = [];
  for (const dir of [...upstreamCrdDirs(), join(repoRoot, 'crds'), join(repoRoot, 'test', 'crds')]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) if (/\.ya?ml$/.test(f)) files.push(join(dir, f));
  }
  return files;
}

export function upstreamCrdDirs(): string[] {
  const out = execFileSync('bash', [join(repoRoot, 'hack/upstream/crds.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.split('\n').filter((l) => l.trim() !== '');
}

export function readCrds(file: string): k8s.V1CustomResourceDefinition[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as k8s.V1CustomResourceDefinition | null)
    .filter((d): d is k8s.V1CustomResourceDefinition => d?.kind === 'CustomResourceDefinition');
}

export async function installCrdFiles(kubeconfigPath: string, files: string[]): Promise<void> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await installCrds(kc, files.flatMap(readCrds));
}

/** Creates or replaces each CRD (sent as raw JSON: see kubeRequest), then waits until all are Established. */
export async function installCrds(kc: k8s.KubeConfig, crds: k8s.V1CustomResourceDefinition[]): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    try {
      const existing = await kubeRequest<k8s.V1CustomResourceDefinition>(kc, 'GET', `${base}/${name}`);
      const body = {
        ...crd,
        metadata: { ...crd.metadata, resourceVersion: existing.metadata!.resourceVersion },
      };
      await kubeRequest(kc, 'PUT', `${base}/${name}`, body);
    } catch (e) {
      if (!(e instanceof KubeRequestError && e.code === 404)) throw e;
      await kubeRequest(kc, 'POST', base, crd);
    }
  }
  for (const crd of crds) {
    const name = crd.metadata!.name!;
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const c = await kubeRequest<k8s.V1CustomResourceDefinition>(kc, 'GET', `${base}/${name}`);
        return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')
          ? true
          : undefined;
      },
      30_000,
    );
  }
}
