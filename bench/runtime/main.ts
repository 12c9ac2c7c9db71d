// Controller runtime figures on a real API server: watch-to-reconcile and write-to-reconcile latency
// at a paced create rate, reconcile throughput for a burst, and the controller's peak RSS with every
// object cached. Each reconcile writes the object's status (one PATCH), as real controllers do.
// Run: node --import tsx bench/runtime/main.ts [objects=5000] [paced=1000] [rate=100]
// (BENCH_CONCURRENCY=16 workers by default.)
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
    execArgv: [], // plain node: no TypeScript loader in the measured process
    env: { ...process.env, BENCH_KUBECONFIG: kubeconfigPath, BENCH_NAMESPACE: ns },
  });
  try {
    await new Promise((r) => child.once('message', r));
    const concurrency = process.env.BENCH_CONCURRENCY ?? '16';
    const create = (i: number) =>
      client.create(Widgets, {
        metadata: { name: `w-${i}`, namespace: ns, annotations: { 'bench/written-at': String(epochMs()) } },
        spec: { i },
      });
    /** Collects reports until n reconciles were seen. */
    const collect = async (n: number) => {
      const out = { w: [] as number[], x: [] as number[], n: 0, first: 0, last: 0 };
      while (out.n < n) {
        const r = await ask(child, 'report');
        out.w.push(...r.writeToReconcile);
        out.x.push(...r.watchToReconcile);
        out.n += r.reconciles;
        if (r.reconciles) {
          out.first ||= r.firstAt;
          out.last = r.lastAt;
        }
        if (out.n < n) await sleep(100);
      }
      return out;
    };
    const mode = async (write: boolean) => {
      await new Promise((r) => {
        child.once('message', r);
        child.send({ cmd: 'mode', write });
      });
    };

    // 1. Paced creates, read-only reconciles: the runtime's own latency.
    await mode(false);
    console.log(`paced: ${PACED} creates at ${RATE}/s, ${concurrency} workers, reconcile reads the cache`);
    // At most 16 creates in flight: if the API server is slower than RATE, the achieved rate shows it
    // (rather than a client-side backlog inflating write → reconcile).
    const inflight = new Set<Promise<unknown>>();
    const start = performance.now();
    for (let i = 0; i < PACED; i++) {
      const wait = start + (i * 1000) / RATE - performance.now();
      if (wait > 0) await sleep(wait);
      while (inflight.size >= 16) await Promise.race(inflight);
      const p: Promise<unknown> = create(i).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    const achieved = PACED / ((performance.now() - start) / 1000);
    const paced = await collect(PACED);
    console.log(`  create rate achieved: ${achieved.toFixed(0)}/s`);
    console.log(`  watch event → reconcile start: ${pct(paced.x)}`);
    console.log(`  object write → reconcile start: ${pct(paced.w)}`);

    // 2. The rest as fast as 16 writers go (fills the cache to OBJECTS).
    const rest = OBJECTS - PACED;
    if (rest > 0) {
      console.log(`bulk: ${rest} creates, 16 concurrent writers`);
      const t0 = performance.now();
      let next = PACED;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < OBJECTS) await create(next++);
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      const bulk = await collect(rest);
      console.log(`  creates: ${(rest / secs).toFixed(0)}/s (the API server's pace)`);
      console.log(`  watch event → reconcile start: ${pct(bulk.x)}`);
      console.log(`  object write → reconcile start: ${pct(bulk.w)}`);
    }

    // 3. Throughput: every cached key enqueued at once, read-only and then with a status PATCH each.
    for (const write of [false, true]) {
      await mode(write);
      await ask(child, 'report');
      await new Promise((r) => {
        child.once('message', r);
        child.send({ cmd: 'enqueue-all' });
      });
      const t = await collect(OBJECTS);
      const secs = (t.last - t.first) / 1000;
      console.log(
        `throughput, ${write ? 'status PATCH per reconcile' : 'read-only reconcile'}: ${t.n} reconciles in ${secs.toFixed(2)} s = ${(t.n / secs).toFixed(0)}/s`,
      );
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
