// capk's original CRDs, read from its Go module at the pinned version (never copied into the
// repo), labelled the way capk's kustomization labels them when it is installed.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { WireCrd } from '../../src/api/crd-merge.js';

export const CAPK_MODULE = 'sigs.k8s.io/cluster-api-provider-kubevirt';
export const CAPK_VERSION = 'v0.11.2';

/** The module's folder in the Go module cache; downloads it through the module proxy if needed. */
export function goModuleDir(module: string, version: string): string {
  // Outside any go.mod, so that the download does not touch a module of the checkout.
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
    cwd: tmpdir(),
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no Dir'}`);
  return info.Dir;
}

/** capk's four CRDs as its release installs them (config/crd: bases + commonLabels). */
export function capkOriginalCrds(version = CAPK_VERSION): WireCrd[] {
  const crdDir = join(goModuleDir(CAPK_MODULE, version), 'config', 'crd');
  const kustomization = parse(readFileSync(join(crdDir, 'kustomization.yaml'), 'utf8')) as {
    commonLabels?: Record<string, string>;
  };
  const labels = kustomization.commonLabels ?? {};
  return readdirSync(join(crdDir, 'bases'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(crdDir, 'bases', f), 'utf8')).map((d) => d.toJS() as WireCrd),
    )
    .filter((c) => c?.kind === 'CustomResourceDefinition')
    .map((c) => ({ ...c, metadata: { ...c.metadata, labels: { ...c.metadata.labels, ...labels } } }));
}
