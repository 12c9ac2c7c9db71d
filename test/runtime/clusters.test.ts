// Infra cluster clients from kubeconfig Secrets (capk's infraClusterSecretRef), cached per Secret
// and rebuilt when it changes, against the real API server.
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import {
  ApiError,
  Controller,
  InfraClusters,
  Manager,
  mapByLabels,
  RestClient,
  Secrets,
  TerminalError,
  connectionFromKubeconfig,
  parseKubeconfig,
} from '../../src/runtime/index.js';
import { installCrds } from '../env/crds.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { Gadgets, Widgets, eventually, toyCrds } from './toy.js';

let kc: k8s.KubeConfig;
let client: RestClient;
let ns: string;

beforeAll(async () => {
  kc = testKubeConfig();
  client = new RestClient(kc);
  ns = await createTestNamespace(kc, 'rt-infra');
});
afterAll(() => client.close());

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('no secretRef: the management cluster; a Secret: a client built once, rebuilt when the Secret changes', async () => {
  const infra = new InfraClusters(client);
  const local = await infra.get(undefined, ns);
  expect(local).toMatchObject({ local: true, namespace: ns });
  expect(local.client).toBe(client);

  const kubeconfig = readFileSync(process.env.CAPK_PODNET_TEST_KUBECONFIG!, 'utf8');
  await client.create(Secrets, {
    metadata: { name: 'infra', namespace: ns },
    data: { kubeconfig: b64(kubeconfig), namespace: b64('vms') },
  });
  const c1 = await infra.get({ name: 'infra' }, ns);
  expect(c1).toMatchObject({ local: false, namespace: 'vms' });
  expect(c1.client).not.toBe(client);
  // The client talks to the cluster the Secret names.
  const got = await c1.client.get(Secrets, 'infra', ns);
  expect(got.metadata.name).toBe('infra');
  expect((await infra.get({ name: 'infra', namespace: ns }, 'elsewhere')).client).toBe(c1.client);
  expect(infra.builds).toBe(1);

  await client.patch(Secrets, 'infra', ns, { data: { namespace: b64('vms-2') } });
  const c2 = await infra.get({ name: 'infra' }, ns);
  expect(c2.client).not.toBe(c1.client);
  expect(c2.namespace).toBe('vms-2');
  expect(infra.builds).toBe(2);
  infra.close();
});

test('a Secret without a kubeconfig is a terminal error; a missing Secret is an ordinary one', async () => {
  const infra = new InfraClusters(client);
  await client.create(Secrets, { metadata: { name: 'empty', namespace: ns }, data: { other: b64('x') } });
  await expect(infra.get({ name: 'empty' }, ns)).rejects.toBeInstanceOf(TerminalError);
  const missing = infra.get({ name: 'absent' }, ns);
  await expect(missing).rejects.toBeInstanceOf(ApiError);
  await expect(missing).rejects.not.toBeInstanceOf(TerminalError);
});

test('the light kubeconfig loader talks to the API server; plugin users fall back to client-node', async () => {
  const path = process.env.CAPK_PODNET_TEST_KUBECONFIG!;
  const conn = parseKubeconfig(readFileSync(path, 'utf8'));
  expect(conn).toBeDefined();
  const c = new RestClient(conn!);
  expect((await c.get(Secrets, 'infra', ns)).metadata.name).toBe('infra');
  c.close();
  const exec = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'x', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [
      { name: 'u', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'true' } } },
    ],
    contexts: [{ name: 'c', context: { cluster: 'x', user: 'u' } }],
    'current-context': 'c',
  };
  expect(parseKubeconfig(JSON.stringify(exec))).toBeUndefined();
  const full = await connectionFromKubeconfig(JSON.stringify(exec));
  expect(full.constructor.name).toBe('KubeConfig');
  expect(full.getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
});

test('a controller watches an infra cluster found at runtime and maps its objects to its own keys', async () => {
  await installCrds(kc, toyCrds());
  const kubeconfig = readFileSync(process.env.CAPK_PODNET_TEST_KUBECONFIG!, 'utf8');
  await client.create(Secrets, {
    metadata: { name: 'infra-2', namespace: ns },
    data: { kubeconfig: b64(kubeconfig) },
  });
  await client.create(Widgets, { metadata: { name: 'wr', namespace: ns }, spec: {} });
  const calls: string[] = [];
  const mgr = new Manager({ kubeConfig: kc, namespaces: [ns] });
  const ctrl = mgr.add(
    new Controller({
      name: 'remote',
      for: Widgets,
      predicate: () => false, // only the infra cluster's events count here
      reconcile: async (req) => {
        calls.push(req.name);
      },
    }),
  );
  await mgr.start();
  try {
    const infra = await mgr.infraClusters.get({ name: 'infra-2' }, ns);
    expect(infra.local).toBe(false);
    const gadgets = mgr.informerOn(infra.client, Gadgets, [ns]);
    expect(mgr.informerOn(infra.client, Gadgets, [ns])).toBe(gadgets); // shared
    ctrl.watch(gadgets, mapByLabels('test.capk-podnet.io/widget'));
    await gadgets.waitForSync();
    await client.create(Gadgets, {
      metadata: { name: 'g', namespace: ns, labels: { 'test.capk-podnet.io/widget': 'wr' } },
      spec: {},
    });
    await eventually('widget reconciled from the infra cluster event', () =>
      calls.includes('wr') ? true : undefined,
    );
    expect(calls.every((c) => c === 'wr')).toBe(true);
  } finally {
    await mgr.stop();
  }
});
