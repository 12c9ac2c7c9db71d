// `npm run generate`: every generated file of the project, from its one source of truth.
// Steps run in order; each must be deterministic so that CI can check nothing is stale
// (`git diff --exit-code` after a run).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Step {
  name: string;
  command: string[];
}

const steps: Step[] = [];

for (const step of steps) {
  const started = Date.now();
  execFileSync(step.command[0]!, step.command.slice(1), { cwd: root, stdio: 'inherit' });
  console.log(`generate: ${step.name} (${Date.now() - started} ms)`);
}
console.log(`generate: ${steps.length} steps done`);
