// The controller under benchmark, in its own process so its RSS is its own: a Manager with one
// informer and a toy controller that writes each Widget's status (a realistic reconcile).
// Reports per-reconcile latencies and peak RSS to the parent over IPC.
import {
  loadConnection,
  Controller,
  Manager,
  PatchHelper,
  generationChanged,
  keyOf,
  type KubeObject,
} from '../../src/runtime/index.js';

// The toy kind of test/runtime/toy.ts, repeated so this file compiles on its own.
const Widgets = {
  group: 'test.capk-podnet.io',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
};
const kc = await loadConnection(process.env.BENCH_KUBECONFIG!);
const namespace = process.env.BENCH_NAMESPACE!;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const epochMs = () => performance.timeOrigin + performance.now();

const writeToReconcile: number[] = [];
const watchToReconcile: number[] = [];
const received = new Map<string, number>();
let reconciles = 0;
let firstAt = 0;
let lastAt = 0;
let peakRss = 0;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
setInterval(sampleRss, 100).unref();

const mgr = new Manager({ kubeConfig: kc, namespaces: [namespace] });
const widgets = mgr.informer(Widgets);
// Registered before the controller's handler: the moment the watch event reached the process.
widgets.addHandler((e) => received.set(keyOf(e.object), epochMs()));
mgr.add(
  new Controller({
    name: 'bench',
    for: Widgets,
    predicate: generationChanged,
    concurrency,
    reconcile: async (req) => {
      const now = epochMs();
      const key = keyOf(req);
      const cached = widgets.get(req);
      if (!cached) return;
      const writtenAt = Number(cached.metadata.annotations?.['bench/written-at']);
      if (writtenAt) writeToReconcile.push(now - writtenAt);
      const got = received.get(key);
      if (got) watchToReconcile.push(now - got);
      reconciles++;
      firstAt ||= now;
      lastAt = now;
      const obj = structuredClone(cached) as KubeObject & { status?: Record<string, unknown> };
      const helper = new PatchHelper(mgr.client, Widgets, obj);
      obj.status = { observed: true };
      await helper.patch(obj);
    },
  }),
);

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'report') {
    sampleRss();
    process.send!({
      reconciles,
      firstAt,
      lastAt,
      writeToReconcile: writeToReconcile.splice(0),
      watchToReconcile: watchToReconcile.splice(0),
      peakRss,
      rss: process.memoryUsage().rss,
      heapUsed: process.memoryUsage().heapUsed,
      heapTotal: process.memoryUsage().heapTotal,
      cached: widgets.size,
    });
    // Each report covers the reconciles since the previous one.
    reconciles = 0;
    firstAt = 0;
    lastAt = 0;
  } else if (m.cmd === 'stop') {
    void mgr.stop().then(() => process.exit(0));
  }
});
await mgr.start();
process.send!({ ready: true });
