// Step 10: crds/ from capk's CRDs (Go module, pinned) + the network schema.
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCrds } from '../crdgen/generate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
for (const f of generateCrds(join(root, 'crds'))) console.log(`  ${relative(root, f)}`);
