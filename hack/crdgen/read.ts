// Reads every CustomResourceDefinition of the YAML files of a folder, in wire form.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { WireCrd } from '../../src/api/crd-merge.js';

export function readWireCrds(dir: string): WireCrd[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as WireCrd))
    .filter((c) => c?.kind === 'CustomResourceDefinition');
}
