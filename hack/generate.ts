// `npm run generate`: every generated file of the project, from its one source of truth.
// Each step is a script in hack/generate.d/, run in name order (NN-name.ts), each deterministic so
// that CI can check that nothing is stale (`git diff --exit-code` after a run).
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stepsDir = join(root, 'hack', 'generate.d');
const steps = readdirSync(stepsDir)
  .filter((f) => /^\d\d-.*\.ts$/.test(f))
  .sort();

for (const step of steps) {
  const started = Date.now();
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(stepsDir, step)],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  console.log(`generate: ${step} (${Date.now() - started} ms)`);
}
console.log(`generate: ${steps.length} steps done`);
