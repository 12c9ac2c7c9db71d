// The Cluster API reconcile skeleton on the real API server: finalizer first, owned objects by
// server-side apply with owner references, conditions owned vs foreign, summary, deletion flow,
// paused Clusters and paused objects left untouched, owner mapping, events.
import type * as k8s from '@kubernetes/client-node';
import {
  ClusterNameLabel,
  Controller,
  CoreEvents,
  Manager,
  PausedAnnotation,
  RestClient,
  applyOwned,
  clusterApiReconciler,
  getCondition,
  mapClusterToLabelled,
  markTrue,
  ownerReferenceTo,
  OwnWrites,
  type Condition,
  type KubeObject,
} from '../../src/runtime/index.js';
import { installCrds } from '../env/crds.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { Gadgets, ToyClusters, Widgets, eventually, sleep, toyCrds } from './toy.js';

type Widget = KubeObject & {
  spec?: Record<string, unknown>;
  status?: { conditions?: Condition[]; gadgets?: number };
};

const FINALIZER = 'test.capk-podnet.io/widget';
let kc: k8s.KubeConfig;
let client: RestClient;
let ns: string;
let mgr: Manager;
const normalCalls = new Map<string, number>();
const deleteCalls = new Map<string, number>();

beforeAll(async () => {
  kc = testKubeConfig();
  client = new RestClient(kc);
  await installCrds(kc, toyCrds());
  ns = await createTestNamespace(kc, 'rt-capi');
  mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  const widgets = mgr.informer<Widget>(Widgets);
  const gadgets = mgr.informer(Gadgets);
  const clusters = mgr.informer(ToyClusters);
  const events = mgr.events();
  mgr.add(
    new Controller({
      name: 'widget',
      for: Widgets,
      owns: [Gadgets],
      watches: [{ source: ToyClusters, map: mapClusterToLabelled(() => widgets) }],
      reconcile: clusterApiReconciler<Widget>({
        resource: Widgets,
        cache: widgets,
        client: mgr.client,
        cluster: { resource: ToyClusters, cache: clusters },
        finalizer: FINALIZER,
        ownedConditions: ['GadgetReady'],
        summary: { type: 'Ready', from: ['GadgetReady'] },
        reconcileNormal: async ({ object }) => {
          normalCalls.set(object.metadata.name, (normalCalls.get(object.metadata.name) ?? 0) + 1);
          const gadget = {
            metadata: {
              name: `${object.metadata.name}-gadget`,
              namespace: ns,
              ownerReferences: [ownerReferenceTo(object, { controller: true })],
            },
            spec: { color: object.spec?.color ?? 'none' },
          };
          await applyOwned(mgr.client, Gadgets, gadget);
          object.status = { ...object.status, gadgets: 1 };
          markTrue(object, 'GadgetReady');
          if (!getCondition(object, 'EventSent'))
            await events.event(object, 'Normal', 'GadgetApplied', 'gadget applied');
        },
        reconcileDelete: async ({ object }) => {
          deleteCalls.set(object.metadata.name, (deleteCalls.get(object.metadata.name) ?? 0) + 1);
          const still = gadgets.get({ namespace: ns, name: `${object.metadata.name}-gadget` });
          if (still) {
            await mgr.client.delete(Gadgets, still.metadata.name, ns);
            return { requeueAfterMs: 50 };
          }
        },
      }),
    }),
  );
  await mgr.start();
});

afterAll(async () => {
  await mgr.stop();
  client.close();
});

const get = (name: string) => client.tryGet<Widget>(Widgets, name, ns);

test('finalizer first, then owned gadget by SSA, owned conditions and summary; foreign conditions kept', async () => {
  await client.create(Widgets, { metadata: { name: 'w1', namespace: ns }, spec: { color: 'red' } });
  // Another controller's condition, written before ours.
  await client.patch(
    Widgets,
    'w1',
    ns,
    {
      status: {
        conditions: [
          {
            type: 'Foreign',
            status: 'False',
            reason: 'TheirBusiness',
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
    },
    { subresource: 'status' },
  );
  const w = await eventually('w1 ready', async () => {
    const o = await get('w1');
    return getCondition(o!, 'Ready')?.status === 'True' ? o : undefined;
  });
  expect(w.metadata.finalizers).toEqual([FINALIZER]);
  expect(getCondition(w, 'GadgetReady')?.status).toBe('True');
  expect(getCondition(w, 'Foreign')).toMatchObject({ status: 'False', reason: 'TheirBusiness' });
  expect(w.status?.gadgets).toBe(1);
  const g = await client.get<KubeObject>(Gadgets, 'w1-gadget', ns);
  expect(g.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Widget', name: 'w1', controller: true });
  expect((g.metadata.managedFields as { manager: string }[]).map((m) => m.manager)).toContain('capk-podnet');
  const evs = await client.list<KubeObject & { involvedObject: { name: string }; reason: string }>(
    CoreEvents,
    { namespace: ns },
  );
  expect(evs.items.some((e) => e.involvedObject.name === 'w1' && e.reason === 'GadgetApplied')).toBe(true);

  // Settled: the echo of our own writes costs one more reconcile at most, then nothing.
  await sleep(300);
  const settled = normalCalls.get('w1')!;
  expect(settled).toBeLessThanOrEqual(4);
  await sleep(300);
  expect(normalCalls.get('w1')).toBe(settled);

  // Deleting the owned gadget behind our back brings the owner back to recreate it.
  const calls = normalCalls.get('w1')!;
  await client.delete(Gadgets, 'w1-gadget', ns);
  await eventually('gadget recreated', () => client.tryGet(Gadgets, 'w1-gadget', ns));
  expect(normalCalls.get('w1')!).toBeGreaterThan(calls);
});

test('deletion: cleanup runs, then the finalizer goes and the object is gone', async () => {
  await client.create(Widgets, { metadata: { name: 'w2', namespace: ns }, spec: {} });
  await eventually('w2 gadget', () => client.tryGet(Gadgets, 'w2-gadget', ns));
  await client.delete(Widgets, 'w2', ns);
  await eventually('w2 gone', async () => ((await get('w2')) ? undefined : true));
  expect(await client.tryGet(Gadgets, 'w2-gadget', ns)).toBeUndefined();
  expect(deleteCalls.get('w2')).toBeGreaterThanOrEqual(2); // delete, requeue, see it gone
});

test('a paused Cluster or a paused annotation leaves the object untouched until unpaused', async () => {
  await client.create(ToyClusters, { metadata: { name: 'c1', namespace: ns }, spec: { paused: true } });
  await client.create(Widgets, {
    metadata: { name: 'w3', namespace: ns, labels: { [ClusterNameLabel]: 'c1' } },
    spec: {},
  });
  await client.create(Widgets, {
    metadata: { name: 'w4', namespace: ns, annotations: { [PausedAnnotation]: '' } },
    spec: {},
  });
  await sleep(700);
  for (const n of ['w3', 'w4']) {
    const w = await get(n);
    expect(w?.metadata.finalizers).toBeUndefined();
    expect(w?.status).toBeUndefined();
    expect(normalCalls.get(n)).toBeUndefined();
  }
  expect(await client.tryGet(Gadgets, 'w3-gadget', ns)).toBeUndefined();

  // Unpausing the Cluster reaches the widget through the Cluster → labelled objects map.
  await client.patch(ToyClusters, 'c1', ns, { spec: { paused: false } });
  await eventually('w3 reconciled', async () =>
    (await get('w3'))?.metadata.finalizers?.length ? true : undefined,
  );
  await eventually('w3 gadget', () => client.tryGet(Gadgets, 'w3-gadget', ns));
  expect(normalCalls.get('w4')).toBeUndefined();
});

describe('clusterApiReconciler reads its own writes', () => {
  it('computes from what it wrote, not from a cache that has not caught up', async () => {
    const name = 'stale-cache';
    // Its own namespace: the suite's widget controller watches `ns` and would race these writes.
    const own = await createTestNamespace(kc, 'rt-capi-ryow');
    await client.create(Widgets, { metadata: { name, namespace: own } } as Widget);
    const first = await client.get<Widget>(Widgets, name, own);
    // A cache frozen at the first version: the worst case of a watch lagging behind our writes.
    const frozen = { get: () => structuredClone(first) } as unknown as Parameters<
      typeof clusterApiReconciler<Widget>
    >[0]['cache'];
    const counts: number[] = [];
    const reconcile = clusterApiReconciler<Widget>({
      resource: Widgets,
      cache: frozen,
      client,
      finalizer: FINALIZER,
      ownedConditions: [],
      // Level-based from the object it is given: counts up once per reconcile it believes is new.
      reconcileNormal: async ({ object }) => {
        const seen = object.status?.gadgets ?? 0;
        counts.push(seen);
        object.status = { ...object.status, gadgets: Math.min(seen + 1, 2) };
      },
      reconcileDelete: async () => undefined,
    });
    const ctx = { controller: 't', reconcileId: 'r', log: mgr.log, signal: new AbortController().signal };
    await reconcile({ namespace: own, name }, ctx);
    // The finalizer is written first, and the same pass goes on.
    expect((await client.get<Widget>(Widgets, name, own)).metadata.finalizers).toEqual([FINALIZER]);
    expect(counts).toEqual([0]);
    for (let i = 0; i < 3; i++) await reconcile({ namespace: own, name }, ctx);
    // 0 → 1 → 2 → 2: each pass saw the previous write (finalizer and status) despite the frozen cache.
    expect(counts).toEqual([0, 1, 2, 2]);
    expect((await client.get<Widget>(Widgets, name, own)).status?.gadgets).toBe(2);
  });

  it('with the echo predicate, its own writes wake no reconcile; a change by someone else does', async () => {
    const own = await createTestNamespace(kc, 'rt-capi-echo');
    const m = new Manager({ kubeConfig: kc, namespaces: [own] });
    const widgets = m.informer<Widget>(Widgets);
    const ownWrites = new OwnWrites<Widget>(widgets, m.client, Widgets);
    let calls = 0;
    const c = m.add(
      new Controller({
        name: 'widget-echo',
        for: Widgets,
        predicate: ownWrites.admit,
        reconcile: clusterApiReconciler<Widget>({
          resource: Widgets,
          cache: widgets,
          client: m.client,
          finalizer: FINALIZER,
          ownedConditions: ['GadgetReady'],
          ownWrites,
          reconcileNormal: async ({ object }) => {
            calls++;
            object.status = { ...object.status, gadgets: Number(object.spec?.size ?? 0) };
            markTrue(object, 'GadgetReady');
          },
          reconcileDelete: async () => undefined,
        }),
      }),
    );
    ownWrites.requeue = (k) => c.enqueue(k);
    await m.start();
    try {
      await client.create(Widgets, { metadata: { name: 'e1', namespace: own }, spec: { size: 1 } });
      await eventually('e1 status written', async () =>
        (await client.get<Widget>(Widgets, 'e1', own)).status?.gadgets === 1 ? true : undefined,
      );
      // Finalizer and status were two writes; neither echo is reconciled.
      await sleep(500);
      expect(calls).toBe(1);
      await client.patch(Widgets, 'e1', own, { spec: { size: 2 } });
      await eventually('e1 follows the change', async () =>
        (await client.get<Widget>(Widgets, 'e1', own)).status?.gadgets === 2 ? true : undefined,
      );
      await sleep(500);
      expect(calls).toBe(2);
    } finally {
      await m.stop();
    }
  });
});
