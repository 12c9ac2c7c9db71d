// bench/scale: many tenant clusters at once on real parts (own kube-apiserver + etcd, real OVN
// central with 10 node switches, the KubeVirt simulator, capk's VM creation stood in, capk-podnet's
// manager in this process with the OVN driver).
//   node --import tsx bench/scale/main.ts [--clusters 100] [--machines 10] [--migrations 100] [--nodes 10]
// Prints: time to all NetworkReady; per machine, VM scheduled → NetworkReady (p50/p99); the
// controller's cutover (target ready → routes committed) over concurrent migrations; peak RSS of this
// process (manager + simulator + bench together); manager API writes and NB transactions per machine.
// Targets (issue 7): all ready ≤ 60 s, p99 ready ≤ 10 s after scheduling, cutover p99 ≤ 50 ms,
// manager RSS ≤ 200 MB.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { KubevirtMachines, type KubevirtMachine } from '../../src/capk/resources.js';
import {
  VirtualMachineInstanceMigrations,
  VirtualMachineInstances,
  type VirtualMachineInstance,
} from '../../src/kubevirt/resources.js';
import { getCondition, Informer, RestClient, type KubeObject } from '../../src/runtime/index.js';
import { installCrdFiles, projectCrdFiles } from '../../test/env/crds.js';
import { KubeControlPlane } from '../../test/env/kube-control-plane.js';
import { waitFor } from '../../test/env/processes.js';
import { TenantWorld } from '../../test/env/tenant-world.js';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '100' },
    machines: { type: 'string', default: '10' },
    migrations: { type: 'string', default: '100' },
    nodes: { type: 'string', default: '10' },
  },
});
const CLUSTERS = Number(values.clusters);
const MACHINES = Number(values.machines);
const MIGRATIONS = Number(values.migrations);
const NODES = Number(values.nodes);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
};
const log = (m: string) => console.log(`[scale ${new Date().toISOString().slice(11, 19)}] ${m}`);

async function inBatches<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

async function main(): Promise<void> {
  const cp = await KubeControlPlane.start();
  let world: TenantWorld | undefined;
  try {
    await installCrdFiles(cp.kubeconfigPath, projectCrdFiles());
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    // A loaded machine schedules target pods slowly: do not fail migrations for it.
    world = await TenantWorld.start({
      kc,
      prefix: 'scale',
      nodes: NODES,
      timing: { targetPendingTimeoutMs: 120_000 },
    });
    const w = world;

    // Count the manager's writes: every non-GET request its client sends.
    const writes = { n: 0 };
    const mgrClient = w.manager!.client as RestClient & { request: RestClient['request'] };
    const original = mgrClient.request.bind(mgrClient);
    mgrClient.request = ((method: string, path: string, opts?: object) => {
      if (method !== 'GET') writes.n++;
      return original(method, path, opts);
    }) as RestClient['request'];

    // Observe from outside, through watches, like any client.
    const observer = new RestClient(kc);
    const vmis = new Informer<VirtualMachineInstance>(observer, {
      resource: VirtualMachineInstances,
      namespaces: [w.ns],
    });
    const machines = new Informer<KubevirtMachine>(observer, {
      resource: KubevirtMachines,
      namespaces: [w.ns],
    });
    const scheduledAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    vmis.addHandler((e) => {
      const vmi = e.object as VirtualMachineInstance;
      if (vmi.status?.nodeName && !scheduledAt.has(vmi.metadata.name))
        scheduledAt.set(vmi.metadata.name, Date.now());
    });
    machines.addHandler((e) => {
      const m = e.object as KubevirtMachine;
      if (
        getCondition(m, 'NetworkReady')?.status === 'True' &&
        m.status?.network?.phase === 'Ready' &&
        !readyAt.has(m.metadata.name)
      )
        readyAt.set(m.metadata.name, Date.now());
    });
    vmis.start();
    machines.start();
    await Promise.all([vmis.waitForSync(), machines.waitForSync()]);

    const total = CLUSTERS * MACHINES;
    const rssBefore = process.memoryUsage().rss;
    log(`creating ${CLUSTERS} clusters × ${MACHINES} machines on ${NODES} infra nodes`);
    const t0 = Date.now();
    const clusterNames = Array.from({ length: CLUSTERS }, (_, i) => `t${i}`);
    await inBatches(clusterNames, 20, (c) =>
      w.createCluster(c, {
        ipam: {
          cidrs: [`10.${200 + Math.floor(Number(c.slice(1)) / 256)}.${Number(c.slice(1)) % 256}.0/24`],
        },
      }),
    );
    const machineNames = clusterNames.flatMap((c) =>
      Array.from({ length: MACHINES }, (_, j) => ({ c, m: `${c}-m${j}` })),
    );
    await inBatches(machineNames, 20, ({ c, m }) => w.createMachine(c, m));
    const created = Date.now();
    await waitFor(
      'all NetworkReady',
      async () => (readyAt.size >= total ? true : undefined),
      15 * 60_000,
      250,
    );
    const allReadyMs = Date.now() - t0;
    const perMachine = machineNames.map(
      ({ m }) => (readyAt.get(m)! - (scheduledAt.get(m) ?? created)) / 1000,
    );
    const writesPerMachine = writes.n / total;
    const nbPerMachine = w.driver!.stats.transactions / total;
    log(
      `all ${total} NetworkReady in ${(allReadyMs / 1000).toFixed(1)} s (creates took ${((created - t0) / 1000).toFixed(1)} s)`,
    );

    // Concurrent migrations.
    const moving = machineNames.slice(0, MIGRATIONS).map(({ m }) => m);
    const fromNode = new Map<string, string>();
    for (const m of moving)
      fromNode.set(m, (vmis.get({ namespace: w.ns, name: m }) as VirtualMachineInstance).status!.nodeName!);
    const tm = Date.now();
    await inBatches(moving, 50, (m) =>
      w.client.create(VirtualMachineInstanceMigrations, {
        metadata: { name: `${m}-bench`, namespace: w.ns },
        spec: { vmiName: m },
      } as KubeObject),
    );
    // Wait for every migration to end, then for the controller's record of each successful one.
    const phases = await waitFor(
      'migrations finished',
      async () => {
        const out = new Map<string, string>();
        for (const m of moving) {
          const vmim = await w.client.get<KubeObject & { status?: { phase?: string } }>(
            VirtualMachineInstanceMigrations,
            `${m}-bench`,
            w.ns,
          );
          const phase = vmim.status?.phase;
          if (phase !== 'Succeeded' && phase !== 'Failed') return undefined;
          out.set(m, phase);
        }
        return out;
      },
      10 * 60_000,
      500,
    );
    const succeeded = moving.filter((m) => phases.get(m) === 'Succeeded');
    const cutovers = await waitFor(
      'cutovers recorded',
      async () => {
        const out: number[] = [];
        for (const m of succeeded) {
          const obj = machines.get({ namespace: w.ns, name: m }) as KubevirtMachine | undefined;
          const lm = obj?.status?.network?.lastMigration;
          if (
            !lm?.completedAt ||
            lm.cutoverMilliseconds === undefined ||
            obj?.status?.network?.node === fromNode.get(m)
          )
            return undefined;
          out.push(lm.cutoverMilliseconds);
        }
        return out;
      },
      2 * 60_000,
      250,
    );
    const migrationsMs = Date.now() - tm;
    const rssPeakMb = process.resourceUsage().maxRSS / 1024;

    const result = {
      clusters: CLUSTERS,
      machines: total,
      nodes: NODES,
      allNetworkReadySeconds: allReadyMs / 1000,
      scheduledToReadySeconds: {
        p50: pct(perMachine, 50),
        p99: pct(perMachine, 99),
        max: Math.max(...perMachine),
      },
      migrations: MIGRATIONS,
      migrationsFailed: MIGRATIONS - succeeded.length,
      migrationsWallSeconds: migrationsMs / 1000,
      cutoverMs: {
        p50: pct(cutovers, 50),
        p95: pct(cutovers, 95),
        p99: pct(cutovers, 99),
        max: Math.max(...cutovers),
      },
      processRssPeakMb: Math.round(rssPeakMb),
      processRssBeforeMb: Math.round(rssBefore / 1048576),
      managerApiWritesPerMachine: Number(writesPerMachine.toFixed(1)),
      nbTransactionsPerMachine: Number(nbPerMachine.toFixed(2)),
    };
    console.log('\nbench/scale');
    console.table({
      'all NetworkReady (s)': { value: result.allNetworkReadySeconds, target: '≤ 60' },
      'scheduled → ready p50 (s)': { value: result.scheduledToReadySeconds.p50, target: '' },
      'scheduled → ready p99 (s)': { value: result.scheduledToReadySeconds.p99, target: '≤ 10' },
      'cutover p50 (ms)': { value: result.cutoverMs.p50, target: '' },
      'cutover p99 (ms)': { value: result.cutoverMs.p99, target: '≤ 50' },
      'peak RSS, whole process (MB)': { value: result.processRssPeakMb, target: '≤ 200 (manager alone)' },
      'manager API writes / machine': { value: result.managerApiWritesPerMachine, target: '' },
      'NB transactions / machine (bring-up)': { value: result.nbTransactionsPerMachine, target: '' },
    });
    writeFileSync(join(import.meta.dirname, 'results.json'), JSON.stringify(result, null, 2) + '\n');
    vmis.stop();
    machines.stop();
    observer.close();
  } finally {
    await world?.stop();
    await cp.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
