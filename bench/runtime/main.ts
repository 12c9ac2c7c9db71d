// Controller runtime figures on a real API server: watch-to-reconcile and write-to-reconcile latency
// at a paced create rate, reconcile throughput for a burst, and the controller's peak RSS with every
// object cached. Each reconcile writes the object's status (one PATCH), as real controllers do.
// Run: node --import tsx bench/runtime/main.ts [objects=5000] [paced=1000] [rate=100]
// Uses CAPK_PODNET_BENCH_KUBECONFIG if set, else starts its own control plane.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { RestClient } from '../../src/runtime/index.js';
import { installCrds } from '../../test/env/crds.js';
import { KubeControlPlane } from '../../test/env/kube-control-plane.js';
import { createTestNamespace } from '../../test/env/kube.js';
import { Widgets, toyCrds } from '../../test/runtime/toy.js';

const OBJECTS = Number(process.argv[2] ?? 5000);
const PACED = Math.min(Number(process.argv[3] ?? 1000), OBJECTS);
const RATE = Number(process.argv[4] ?? 100);
const here = dirname(fileURLToPath(import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Report {
  reconciles: number;
  firstAt: number;
  lastAt: number;
  writeToReconcile: number[];
  watchToReconcile: number[];
  peakRss: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  cached: number;
}

/**
 * Compiles the controller process to JS, so its RSS is that of the product (no TypeScript loader).
 * Output under node_modules/.cache so that package imports resolve.
 */
function buildController(): string {
  const out = join(here, '..', '..', 'node_modules', '.cache', 'capk-podnet-bench-runtime');
  execFileSync(
    process.execPath,
    [
      join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'),
      '--outDir',
      out,
      '--rootDir',
      join(here, '..', '..'),
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
      '--sourceMap',
      'false',
      join(here, 'controller-process.ts'),
    ],
    { stdio: 'inherit' },
  );
  return join(out, 'bench', 'runtime', 'controller-process.js');
}

function pct(xs: number[]): string {
  if (!xs.length) return 'no samples';
  const s = [...xs].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2);
  return `p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms, max ${s.at(-1)!.toFixed(2)} ms (n=${s.length})`;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;

function ask(child: ChildProcess, cmd: string): Promise<Report> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Report));
    child.send({ cmd });
  });
}

async function main(): Promise<void> {
  let cp: KubeControlPlane | undefined;
  let kubeconfigPath = process.env.CAPK_PODNET_BENCH_KUBECONFIG;
  if (!kubeconfigPath) {
    cp = await KubeControlPlane.start();
    kubeconfigPath = cp.kubeconfigPath;
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await installCrds(kc, toyCrds());
  const ns = await createTestNamespace(kc, 'bench-runtime');
  const client = new RestClient(kc);
  const child = fork(buildController(), {
    env: { ...process.env, BENCH_KUBECONFIG: kubeconfigPath, BENCH_NAMESPACE: ns },
  });
  try {
    await new Promise((r) => child.once('message', r));
    const create = (i: number) =>
      client.create(Widgets, {
        metadata: { name: `w-${i}`, namespace: ns, annotations: { 'bench/written-at': String(epochMs()) } },
        spec: { i },
      });
    // 1. Paced: RATE creates per second, latency per object.
    console.log(`paced: ${PACED} objects at ${RATE}/s`);
    const inflight: Promise<unknown>[] = [];
    const start = performance.now();
    for (let i = 0; i < PACED; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inflight.push(create(i));
    }
    await Promise.all(inflight);
    const achieved = PACED / ((performance.now() - start) / 1000);
    const lat = { w: [] as number[], x: [] as number[], n: 0 };
    while (lat.n < PACED) {
      const r = await ask(child, 'report');
      lat.w.push(...r.writeToReconcile);
      lat.x.push(...r.watchToReconcile);
      lat.n += r.reconciles;
      if (lat.n < PACED) await sleep(200);
    }
    console.log(`  create rate achieved: ${achieved.toFixed(0)}/s`);
    console.log(`  watch event → reconcile start: ${pct(lat.x)}`);
    console.log(`  object write → reconcile start: ${pct(lat.w)}`);

    // 2. Burst: the rest as fast as 16 writers go; throughput from first to last reconcile.
    const burst = OBJECTS - PACED;
    if (burst > 0) {
      console.log(`burst: ${burst} objects, 16 concurrent writers`);
      const t0 = performance.now();
      let next = PACED;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < OBJECTS) await create(next++);
        }),
      );
      const createSecs = (performance.now() - t0) / 1000;
      let first = 0;
      let last = 0;
      let n = 0;
      const w: number[] = [];
      while (n < burst) {
        await sleep(200);
        const rep = await ask(child, 'report');
        if (rep.reconciles) {
          first ||= rep.firstAt;
          last = rep.lastAt;
          n += rep.reconciles;
          w.push(...rep.writeToReconcile);
        }
      }
      console.log(`  creates: ${(burst / createSecs).toFixed(0)}/s (API server bound)`);
      console.log(
        `  reconciles: ${n} in ${((last - first) / 1000).toFixed(2)} s = ${(n / ((last - first) / 1000)).toFixed(0)}/s (each with a status PATCH)`,
      );
      console.log(`  object write → reconcile start under burst: ${pct(w)}`);
    }
    await sleep(1000);
    const fin = await ask(child, 'report');
    console.log(
      `controller process with ${fin.cached} cached objects: peak RSS ${mb(fin.peakRss)}, RSS now ${mb(fin.rss)}, heap used ${mb(fin.heapUsed)} of ${mb(fin.heapTotal)}`,
    );
    child.send({ cmd: 'stop' });
    await new Promise((r) => child.once('exit', r));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    client.close();
    await cp?.stop();
  }
}

await main();
