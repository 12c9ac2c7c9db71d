// A toy controller on the runtime against the real API server: call counts, backoff and requeue
// timings, terminal errors, writes of an unchanged world, probes and metrics.
import { Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import winston from 'winston';
import {
  Controller,
  Manager,
  PatchHelper,
  RestClient,
  TerminalError,
  generationChanged,
  type KubeObject,
  type ObjectKey,
  type Result,
} from '../../src/runtime/index.js';
import { installCrds } from '../env/crds.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { Widgets, eventually, sleep, toyCrds } from './toy.js';

type Widget = KubeObject & { spec?: { n?: number; mode?: string }; status?: { seen?: number } };

let kc: k8s.KubeConfig;
let client: RestClient;

beforeAll(async () => {
  kc = testKubeConfig();
  client = new RestClient(kc);
  await installCrds(kc, toyCrds());
});
afterAll(() => client.close());

const widget = (ns: string, name: string, spec: Widget['spec'] = {}): Widget => ({
  metadata: { name, namespace: ns },
  spec,
});

async function createWidgets(ns: string, names: string[], spec: Widget['spec'] = {}): Promise<void> {
  // A few at a time: the API server and the other suites share two cores.
  for (let i = 0; i < names.length; i += 20)
    await Promise.all(names.slice(i, i + 20).map((n) => client.create(Widgets, widget(ns, n, spec))));
}

function startManager(ns: string, reconcile: (req: ObjectKey) => Promise<Result | void>, extra = {}) {
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns], ...extra });
  const ctrl = mgr.add(
    new Controller({
      name: 'widgets',
      for: Widgets,
      predicate: generationChanged,
      reconcile,
      concurrency: 4,
    }),
  );
  return { mgr, ctrl };
}

test('reconciles every object once, again only after a spec change, and an unchanged world writes nothing', async () => {
  const ns = await createTestNamespace(kc, 'rt-count');
  const before = Array.from({ length: 60 }, (_, i) => `pre-${i}`);
  const after = Array.from({ length: 60 }, (_, i) => `post-${i}`);
  await createWidgets(ns, before, { n: 1 });

  const calls = new Map<string, number>();
  let writes = 0;
  let inFlight = new Map<string, number>();
  let overlap = 0;
  const { mgr, ctrl } = startManager(ns, async (req) => {
    const k = req.name;
    if ((inFlight.get(k) ?? 0) > 0) overlap++;
    inFlight.set(k, (inFlight.get(k) ?? 0) + 1);
    calls.set(k, (calls.get(k) ?? 0) + 1);
    try {
      const cached = mgr.informer<Widget>(Widgets).get(req);
      if (!cached) return;
      const obj = structuredClone(cached);
      const helper = new PatchHelper(mgr.client, Widgets, obj);
      obj.status = { ...obj.status, seen: obj.spec?.n };
      await helper.patch(obj);
      writes += helper.writes;
    } finally {
      inFlight.set(k, inFlight.get(k)! - 1);
    }
  });
  await mgr.start();
  try {
    await createWidgets(ns, after, { n: 1 });
    const all = [...before, ...after];
    await eventually(
      'all reconciled',
      () => (all.every((n) => calls.get(n) === 1) ? true : undefined),
      30_000,
    );
    await eventually('all statuses written', () => (writes === all.length ? true : undefined));
    await sleep(300); // status echoes arrive; the predicate drops them
    expect([...calls.values()].every((c) => c === 1)).toBe(true);
    expect(calls.size).toBe(all.length);
    expect(writes).toBe(all.length);

    // A spec change (generation bump) reconciles once more and writes once.
    for (const n of before.slice(0, 10)) await client.patch(Widgets, n, ns, { spec: { n: 2 } });
    await eventually('changed reconciled', () =>
      before.slice(0, 10).every((n) => calls.get(n) === 2) ? true : undefined,
    );
    await eventually('changed written', () => (writes === all.length + 10 ? true : undefined));

    // Reconciling the unchanged world again sends no write at all.
    const w0 = writes;
    const total0 = [...calls.values()].reduce((a, b) => a + b, 0);
    inFlight = new Map();
    for (const n of all) ctrl.enqueue({ namespace: ns, name: n });
    await eventually('re-reconciled', () =>
      [...calls.values()].reduce((a, b) => a + b, 0) === total0 + all.length ? true : undefined,
    );
    expect(writes).toBe(w0);
    expect(overlap).toBe(0);
  } finally {
    await mgr.stop();
  }
});

test('errors back off exponentially per key; requeueAfter comes back after its delay; terminal errors are not retried', async () => {
  const ns = await createTestNamespace(kc, 'rt-backoff');
  const times = new Map<string, number[]>();
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  mgr.add(
    new Controller({
      name: 'timing',
      for: Widgets,
      predicate: generationChanged,
      backoff: { baseMs: 40, maxMs: 400 },
      reconcile: async (req) => {
        const t = times.get(req.name) ?? [];
        t.push(performance.now());
        times.set(req.name, t);
        if (req.name === 'flaky' && t.length <= 5) throw new Error('not yet');
        if (req.name === 'later' && t.length <= 2) return { requeueAfterMs: 300 };
        if (req.name === 'broken') throw new TerminalError('never works');
      },
    }),
  );
  await mgr.start();
  try {
    await createWidgets(ns, ['flaky', 'later', 'broken']);
    await eventually(
      'flaky succeeded',
      () => ((times.get('flaky')?.length ?? 0) >= 6 ? true : undefined),
      10_000,
    );
    await eventually('later done', () => ((times.get('later')?.length ?? 0) >= 3 ? true : undefined), 10_000);
    await sleep(500); // a retry of the terminal error (40 ms backoff) would have happened by now
    const gaps = (name: string) => {
      const t = times.get(name)!;
      return t.slice(1).map((x, i) => x - t[i]!);
    };
    // 40, 80, 160, 320, then capped at 400.
    const expected = [40, 80, 160, 320, 400];
    const flaky = gaps('flaky');
    expect(flaky).toHaveLength(5);
    flaky.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(expected[i]! - 5);
      expect(g).toBeLessThan(expected[i]! + 500);
    });
    const later = gaps('later');
    expect(later).toHaveLength(2);
    for (const g of later) {
      expect(g).toBeGreaterThanOrEqual(295);
      expect(g).toBeLessThan(1_300);
    }
    expect(times.get('broken')).toHaveLength(1);
    // After success the key's backoff is forgotten and nothing more runs.
    expect(times.get('flaky')).toHaveLength(6);
  } finally {
    await mgr.stop();
  }
});

test('reconciles start only after the cache synced; /readyz, /healthz and /metrics answer', async () => {
  const ns = await createTestNamespace(kc, 'rt-probe');
  await createWidgets(ns, ['a', 'b', 'c']);
  let sizeAtFirstCall = -1;
  const mgr = new Manager({
    kubeConfig: kc,
    namespaces: [ns],
    healthProbeBindAddress: '127.0.0.1:0',
    metricsBindAddress: '127.0.0.1:0',
  });
  mgr.add(
    new Controller({
      name: 'probe',
      for: Widgets,
      reconcile: async () => {
        if (sizeAtFirstCall < 0) sizeAtFirstCall = mgr.informer(Widgets).size;
      },
    }),
  );
  expect(mgr.ready()).toBe(false);
  await mgr.start();
  try {
    const [port] = mgr.endpointPorts;
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${port}${p}`);
      return { status: r.status, text: await r.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    await eventually('reconciled', () => (sizeAtFirstCall >= 0 ? true : undefined));
    expect(sizeAtFirstCall).toBe(3);
    const m = (await get('/metrics')).text;
    expect(m).toMatch(/controller_runtime_reconcile_total\{controller="probe",result="success"\} [1-9]/);
    expect(m).toContain('workqueue_queue_duration_seconds_bucket');
    expect(m).toContain('capk_podnet_informer_restarts_total');
  } finally {
    await mgr.stop();
  }
  expect(mgr.ready()).toBe(false);
});

test('graceful stop drains in-flight reconciles and starts no new ones', async () => {
  const ns = await createTestNamespace(kc, 'rt-drain');
  await createWidgets(ns, ['slow-1', 'slow-2', 'slow-3']);
  let started = 0;
  let finished = 0;
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  mgr.add(
    new Controller({
      name: 'drain',
      for: Widgets,
      concurrency: 1,
      reconcile: async () => {
        started++;
        await sleep(300);
        finished++;
      },
    }),
  );
  await mgr.start();
  await eventually('first started', () => (started >= 1 ? true : undefined));
  await mgr.stop();
  expect(finished).toBe(started);
  expect(started).toBe(1);
});

test('each reconcile logs with controller, object and its own reconcileId', async () => {
  const ns = await createTestNamespace(kc, 'rt-log');
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const logger = winston.createLogger({
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns], logger });
  let n = 0;
  mgr.add(
    new Controller({
      name: 'logging',
      for: Widgets,
      reconcile: async (_req, ctx) => {
        ctx.log.info('reconciling');
        if (++n === 1) throw new Error('first attempt fails');
      },
    }),
  );
  await mgr.start();
  try {
    await createWidgets(ns, ['x']);
    await eventually('two reconciles', () =>
      lines.filter((l) => l.message === 'reconciling').length >= 2 ? true : undefined,
    );
    const recs = lines.filter((l) => l.message === 'reconciling');
    for (const l of recs) expect(l).toMatchObject({ controller: 'logging', namespace: ns, name: 'x' });
    expect(recs[0]!.reconcileId).toMatch(/^[0-9a-f-]{36}$/);
    expect(recs[0]!.reconcileId).not.toBe(recs[1]!.reconcileId);
    const failed = lines.find((l) => l.message === 'reconcile failed, will retry');
    expect(failed).toMatchObject({
      reconcileId: recs[0]!.reconcileId,
      error: 'first attempt fails',
      level: 'error',
    });
  } finally {
    await mgr.stop();
  }
});

test('keys of priority events jump the queue', async () => {
  const ns = await createTestNamespace(kc, 'rt-prio');
  const ordinary = Array.from({ length: 20 }, (_, i) => `o-${i}`);
  await createWidgets(ns, ordinary);
  const order: string[] = [];
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  mgr.add(
    new Controller({
      name: 'prio',
      for: Widgets,
      concurrency: 1,
      priority: (e) => e.object.metadata.labels?.migrating === 'true',
      reconcile: async (req) => {
        order.push(req.name);
        await sleep(100);
      },
    }),
  );
  await mgr.start();
  try {
    await eventually('started', () => (order.length >= 1 ? true : undefined));
    await client.create(Widgets, {
      metadata: { name: 'urgent', namespace: ns, labels: { migrating: 'true' } },
    });
    await eventually('all done', () => (order.length === 21 ? true : undefined), 20_000);
    // Without priority it would come 21st; with it, right after the reconcile in flight when it arrived.
    expect(order.indexOf('urgent')).toBeLessThan(6);
  } finally {
    await mgr.stop();
  }
});
