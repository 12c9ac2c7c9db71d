// The controller under benchmark, in its own process so its RSS is its own: a Manager with one
// informer and a toy controller. In "read" mode a reconcile reads the cached object (the runtime's
// own cost); in "write" mode it also writes the object's status with the patch helper (one PATCH,
// as real controllers do, so the API server's speed shows). Reports to the parent over IPC.
import {
  Controller,
  Manager,
  PatchHelper,
  generationChanged,
  keyOf,
  loadConnection,
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
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const epochMs = () => performance.timeOrigin + performance.now();

let write = false;
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
const ctrl = mgr.add(
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
      const got = received.get(key);
      if (got !== undefined) {
        // Only the first reconcile after an event measures latency.
        received.delete(key);
        watchToReconcile.push(now - got);
        const writtenAt = Number(cached.metadata.annotations?.['bench/written-at']);
        if (writtenAt) writeToReconcile.push(now - writtenAt);
      }
      reconciles++;
      firstAt ||= now;
      lastAt = now;
      if (!write) return;
      const obj = structuredClone(cached) as KubeObject & { status?: Record<string, unknown> };
      const helper = new PatchHelper(mgr.client, Widgets, obj);
      obj.status = { observed: (Number(obj.status?.observed) || 0) + 1 };
      await helper.patch(obj);
    },
  }),
);

process.on('message', (m: { cmd: string; write?: boolean }) => {
  if (m.cmd === 'report') {
    sampleRss();
    const mem = process.memoryUsage();
    process.send!({
      reconciles,
      firstAt,
      lastAt,
      writeToReconcile: writeToReconcile.splice(0),
      watchToReconcile: watchToReconcile.splice(0),
      peakRss,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      cached: widgets.size,
    });
    // Each report covers the reconciles since the previous one.
    reconciles = 0;
    firstAt = 0;
    lastAt = 0;
  } else if (m.cmd === 'mode') {
    write = m.write ?? false;
    process.send!({ ok: true });
  } else if (m.cmd === 'enqueue-all') {
    // Every cached key at once: the queue and workers at full speed.
    for (const o of widgets.list()) ctrl.enqueue({ namespace: o.metadata.namespace, name: o.metadata.name });
    process.send!({ ok: true });
  } else if (m.cmd === 'stop') {
    void mgr.stop().then(() => process.exit(0));
  }
});
await mgr.start();
process.send!({ ready: true });
