// Two controller processes with leader election on a Lease: only the leader acts; the follower is
// ready and idle; it takes over within the lease duration when the leader is killed; a leader whose
// lease is taken stops at once and exits; a graceful stop hands the lease back.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as k8s from '@kubernetes/client-node';
import { Leases, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { installCrds } from '../env/crds.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { freePort } from '../env/processes.js';
import { Widgets, eventually, sleep, toyCrds } from './toy.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'toy-manager.ts');

interface Replica {
  proc: ChildProcess;
  out: string[];
  exit: Promise<number | null>;
  port: number;
}

let kc: k8s.KubeConfig;
let client: RestClient;
let ns: string;
const replicas: Replica[] = [];

beforeAll(async () => {
  kc = testKubeConfig();
  client = new RestClient(kc);
  await installCrds(kc, toyCrds());
  ns = await createTestNamespace(kc, 'rt-leader');
});

afterAll(async () => {
  for (const r of replicas) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
  client.close();
});

async function startReplica(identity: string): Promise<Replica> {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: {
      ...process.env,
      TOY_IDENTITY: identity,
      TOY_NAMESPACE: ns,
      TOY_KUBECONFIG: process.env.CAPK_PODNET_TEST_KUBECONFIG!,
      TOY_HEALTH_ADDRESS: `127.0.0.1:${port}`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => out.push(...d.toString().split('\n').filter(Boolean)));
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const r = { proc, out, exit, port };
  replicas.push(r);
  await eventually(`${identity} synced`, () => (out.includes('synced') ? true : undefined), 30_000);
  return r;
}

const stampedBy = async (name: string): Promise<string[]> => {
  const w = await client.get<KubeObject>(Widgets, name, ns);
  return Object.keys(w.metadata.annotations ?? {})
    .filter((k) => k.startsWith('test.capk-podnet.io/reconciled-by-'))
    .map((k) => k.slice('test.capk-podnet.io/reconciled-by-'.length))
    .sort();
};

const createWidget = (name: string) =>
  client.create(Widgets, { metadata: { name, namespace: ns }, spec: {} });

const probe = async (port: number, path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).text();

test('only the leader reconciles; the follower takes over within the lease duration; a lost lease stops at once', async () => {
  for (const n of ['w0', 'w1', 'w2']) await createWidget(n);
  const a = await startReplica('a');
  await eventually('a leads', () => (a.out.includes('leading') ? true : undefined), 15_000);
  for (const n of ['w0', 'w1', 'w2'])
    await eventually(`${n} by a`, async () => ((await stampedBy(n)).includes('a') ? true : undefined));

  const b = await startReplica('b');
  // The follower is ready (leader known) but idle.
  await eventually('b ready', async () =>
    (await fetch(`http://127.0.0.1:${b.port}/readyz`)).status === 200 ? true : undefined,
  );
  expect(await probe(b.port, '/metrics')).toMatch(/leader_election_master_status\{name="toy-leader"\} 0/);
  expect(await probe(a.port, '/metrics')).toMatch(/leader_election_master_status\{name="toy-leader"\} 1/);
  await createWidget('w3');
  await eventually('w3 by a', async () => ((await stampedBy('w3')).includes('a') ? true : undefined));
  await sleep(1_000);
  for (const n of ['w0', 'w1', 'w2', 'w3']) expect(await stampedBy(n)).toEqual(['a']);
  expect(b.out).not.toContain('leading');

  // Kill the leader without a chance to release: b takes over once the lease expires (3 s).
  a.proc.kill('SIGKILL');
  const killedAt = Date.now();
  await createWidget('w4');
  await eventually('w4 by b', async () => ((await stampedBy('w4')).includes('b') ? true : undefined), 15_000);
  const takeover = Date.now() - killedAt;
  expect(takeover).toBeLessThan(3_000 + 2 * 500 + 1_500); // lease duration + retry jitter + margin
  expect(takeover).toBeGreaterThanOrEqual(1_500); // it did wait for the lease to run out
  expect(await stampedBy('w4')).toEqual(['b']);

  // Someone else takes the lease: b fails to renew, stops reconciling and exits 1.
  const lease = await client.get<KubeObject & { spec: Record<string, unknown> }>(Leases, 'toy-leader', ns);
  lease.spec = {
    ...lease.spec,
    holderIdentity: 'thief',
    renewTime: new Date().toISOString().replace('Z', '000Z'),
  };
  await client.update(Leases, lease);
  const stolenAt = Date.now();
  expect(await b.exit).toBe(1);
  expect(b.out).toContain('lost');
  expect(Date.now() - stolenAt).toBeLessThan(2_000 + 500 + 1_500); // renew deadline + retry + margin
  await createWidget('w5');
  await sleep(500);
  expect(await stampedBy('w5')).toEqual([]);
}, 90_000);

test('a graceful stop releases the lease so the next replica need not wait it out', async () => {
  const c = await startReplica('c');
  // The thief's lease from the previous test runs out first (3 s).
  await eventually('c leads', () => (c.out.includes('leading') ? true : undefined), 15_000);
  const d = await startReplica('d');
  c.proc.kill('SIGTERM');
  expect(await c.exit).toBe(0);
  const lease = await client.get<KubeObject & { spec: { holderIdentity?: string } }>(
    Leases,
    'toy-leader',
    ns,
  );
  expect(lease.spec.holderIdentity ?? '').not.toBe('c');
  const releasedAt = Date.now();
  await eventually('d leads', () => (d.out.includes('leading') ? true : undefined), 10_000);
  expect(Date.now() - releasedAt).toBeLessThan(2_000); // a retry period or so, not a lease duration
  d.proc.kill('SIGTERM');
  expect(await d.exit).toBe(0);
}, 60_000);
