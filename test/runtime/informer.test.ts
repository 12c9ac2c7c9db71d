// The informer against a control plane of its own: consistent object shapes, an API server
// restart mid-watch without a missed change, and a watch gone silent (a frozen TCP path) restarted.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { writeFileSync, readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { Informer, RestClient, type InformerEvent, type KubeObject } from '../../src/runtime/index.js';
import { installCrds } from '../env/crds.js';
import { KubeControlPlane } from '../env/kube-control-plane.js';
import { freePort } from '../env/processes.js';
import { Widgets, eventually, toyCrds } from './toy.js';

type Widget = KubeObject & { spec?: { n?: number } };

let cp: KubeControlPlane;
let kc: k8s.KubeConfig;
let client: RestClient;
const ns = 'default';

beforeAll(async () => {
  // Watches served from etcd and compacted each second, so a stale resourceVersion meets 410 Gone.
  cp = await KubeControlPlane.start({
    extraApiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'],
  });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  client = new RestClient(kc);
  await installCrds(kc, toyCrds());
}, 120_000);

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

/** The cache equals the server: same keys, same resourceVersions. */
async function expectCacheMatchesServer(inf: Informer<Widget>): Promise<void> {
  await eventually(
    'cache equals server',
    async () => {
      const { items } = await client.list<Widget>(Widgets, { namespace: ns });
      const server = new Map(items.map((o) => [o.metadata.name, o.metadata.resourceVersion]));
      const cached = new Map(inf.list().map((o) => [o.metadata.name, o.metadata.resourceVersion]));
      return server.size === cached.size && [...server].every(([k, v]) => cached.get(k) === v)
        ? true
        : undefined;
    },
    20_000,
  );
}

test('timestamps are strings alike from list and watch; apiVersion/kind are set on listed items', async () => {
  await client.create(Widgets, { metadata: { name: 'shape-listed', namespace: ns } });
  const inf = new Informer<Widget>(client, { resource: Widgets, namespaces: [ns] });
  inf.start();
  await inf.waitForSync();
  await client.create(Widgets, { metadata: { name: 'shape-watched', namespace: ns } });
  const watched = await eventually('watched', () => inf.get({ namespace: ns, name: 'shape-watched' }));
  const listed = inf.get({ namespace: ns, name: 'shape-listed' })!;
  for (const o of [listed, watched]) {
    expect(typeof o.metadata.creationTimestamp).toBe('string');
    expect(o.apiVersion).toBe('test.capk-podnet.io/v1');
    expect(o.kind).toBe('Widget');
    expect(o.metadata.managedFields).toBeUndefined();
  }
  await inf.stop();
  for (const n of ['shape-listed', 'shape-watched']) await client.delete(Widgets, n, ns);
});

test('survives an API server restart mid-watch without missing a change', async () => {
  for (const n of ['r1', 'r2', 'r3'])
    await client.create(Widgets, { metadata: { name: n, namespace: ns }, spec: { n: 0 } });
  const inf = new Informer<Widget>(client, {
    resource: Widgets,
    namespaces: [ns],
    retryBaseMs: 100,
    retryMaxMs: 500,
  });
  const events: InformerEvent<Widget>[] = [];
  inf.addHandler((e) => events.push(e));
  inf.start();
  await inf.waitForSync();
  expect(inf.size).toBe(3);

  // A change right before the restart, and changes while the informer is reconnecting.
  await client.patch(Widgets, 'r1', ns, { spec: { n: 1 } });
  await cp.stopApiServer();
  await new Promise((r) => setTimeout(r, 500)); // the informer's requests fail meanwhile
  await cp.startApiServer();
  await client.patch(Widgets, 'r2', ns, { spec: { n: 2 } });
  await client.delete(Widgets, 'r3', ns);
  await client.create(Widgets, { metadata: { name: 'r4', namespace: ns }, spec: { n: 4 } });

  await expectCacheMatchesServer(inf);
  expect(inf.get({ namespace: ns, name: 'r1' })?.spec?.n).toBe(1);
  expect(inf.get({ namespace: ns, name: 'r2' })?.spec?.n).toBe(2);
  expect(inf.get({ namespace: ns, name: 'r3' })).toBeUndefined();
  expect(events.some((e) => e.type === 'delete' && e.object.metadata.name === 'r3')).toBe(true);
  expect(events.some((e) => e.type === 'add' && e.object.metadata.name === 'r4')).toBe(true);
  expect(inf.restarts.error + inf.restarts.gone).toBeGreaterThanOrEqual(1);

  // And it keeps working afterwards.
  await client.patch(Widgets, 'r4', ns, { spec: { n: 5 } });
  await eventually('r4 updated', () =>
    inf.get({ namespace: ns, name: 'r4' })?.spec?.n === 5 ? true : undefined,
  );
  await inf.stop();
}, 120_000);

/** A TCP relay to the API server whose current connections can be frozen (bytes silently dropped). */
async function freezableRelay(
  target: number,
  fixedPort?: number,
): Promise<{ port: number; freeze(): void; close(): void }> {
  const port = fixedPort ?? (await freePort());
  const live = new Set<{ frozen: boolean; a: Socket; b: Socket }>();
  const server: Server = createServer((a) => {
    const b = connect(target, '127.0.0.1');
    const pair = { frozen: false, a, b };
    live.add(pair);
    a.on('data', (d) => pair.frozen || b.write(d));
    b.on('data', (d) => pair.frozen || a.write(d));
    const end = () => {
      live.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on('close', end).on('error', end);
    b.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    port,
    freeze: () => live.forEach((p) => (p.frozen = true)),
    close: () => {
      live.forEach((p) => (p.a.destroy(), p.b.destroy()));
      server.close();
    },
  };
}

/** A kubeconfig for the API server through the relay. */
function relayKubeConfig(port: number): k8s.KubeConfig {
  const cfg = JSON.parse(readFileSync(cp.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  cfg.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
  const path = `${cp.dir}/kubeconfig-relay-${port}`;
  writeFileSync(path, JSON.stringify(cfg));
  const rkc = new k8s.KubeConfig();
  rkc.loadFromFile(path);
  return rkc;
}

test('a watch gone silent (frozen connection, no error) is detected and restarted', async () => {
  const relay = await freezableRelay(cp.apiPort);
  const rclient = new RestClient(relayKubeConfig(relay.port));
  const inf = new Informer<Widget>(rclient, {
    resource: Widgets,
    namespaces: [ns],
    silenceMs: 1_000,
    retryBaseMs: 50,
  });
  inf.start();
  await inf.waitForSync();
  relay.freeze(); // the watch's connection now delivers nothing, and never errors
  const t0 = Date.now();
  await client.create(Widgets, { metadata: { name: 'silent-1', namespace: ns } });
  await eventually('seen after silence restart', () => inf.get({ namespace: ns, name: 'silent-1' }), 15_000);
  expect(inf.restarts.silence + inf.restarts.error).toBeGreaterThanOrEqual(1);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(900); // only the restart could have brought it
  await inf.stop();
  rclient.close();
  relay.close();
}, 60_000);

test('a resourceVersion compacted away (410 Gone) makes it relist and replay the difference', async () => {
  const relay = await freezableRelay(cp.apiPort);
  const rclient = new RestClient(relayKubeConfig(relay.port));
  for (const n of ['g1', 'g2'])
    await client.create(Widgets, { metadata: { name: n, namespace: ns }, spec: { n: 0 } });
  const inf = new Informer<Widget>(rclient, {
    resource: Widgets,
    namespaces: [ns],
    silenceMs: 30_000,
    retryBaseMs: 50,
    retryMaxMs: 200,
  });
  const events: InformerEvent<Widget>[] = [];
  inf.addHandler((e) => events.push(e));
  inf.start();
  await inf.waitForSync();
  // While its watch is cut off, the world moves on and etcd compacts the informer's revision away.
  relay.freeze();
  await client.patch(Widgets, 'g1', ns, { spec: { n: 1 } });
  await client.delete(Widgets, 'g2', ns);
  await client.create(Widgets, { metadata: { name: 'g3', namespace: ns }, spec: { n: 3 } });
  await new Promise((r) => setTimeout(r, 3_000)); // more than two compaction intervals
  relay.close(); // the watch connection breaks; resuming from its resourceVersion meets 410
  const relay2 = await freezableRelay(cp.apiPort, relay.port);
  await eventually('relisted', () => (inf.restarts.gone >= 1 ? true : undefined), 20_000);
  await expectCacheMatchesServer(inf);
  expect(inf.get({ namespace: ns, name: 'g1' })?.spec?.n).toBe(1);
  expect(events.some((e) => e.type === 'delete' && e.object.metadata.name === 'g2')).toBe(true);
  expect(events.some((e) => e.type === 'add' && e.object.metadata.name === 'g3')).toBe(true);
  await inf.stop();
  rclient.close();
  relay2.close();
}, 60_000);
