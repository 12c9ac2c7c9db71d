// OVN driver figures against a real NB ovsdb-server + ovn-northd: 1,000 VMs on 20 node switches,
// then 200 live migrations (target-created → target-ready → completed). Reports NB transactions per
// VM event, sync latency from a desired-state change to the committed transaction (the driver call:
// compose, diff, transact, cache confirmed), client heap with the VMs cached, and how long northd
// takes to turn the changes into logical flows. Prints a table, writes bench/ovn/results.json.
// Run: node --expose-gc --import tsx bench/ovn/main.ts [--vms 1000] [--migrations 200] [--nodes 20]
//   [--burst 100] (flips called at once, as when a drained node's VMs all switch over together)
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { format } from 'prettier';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { OvnDriver, type SyncTiming } from '../../src/network/ovn/index.js';
import type { Placement, VmNetworkSpec } from '../../src/network/driver.js';
import { OvnCentral } from '../../test/env/ovn-central.js';
import { execFileAsync } from '../../test/env/processes.js';
import { buildTopology, GATEWAY } from '../../test/network-ovn/topology.js';

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const VMS = flag('vms', 1000);
const MIGRATIONS = flag('migrations', 200);
const NODES = flag('nodes', 20);
const CONCURRENCY = flag('concurrency', 4);
const PAUSED = flag('paused-migrations', 50);
const BURST = flag('burst', 100);

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}
function stats(ms: number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const q = (x: number) => s[Math.min(s.length - 1, Math.floor(x * s.length))] ?? NaN;
  const r = (x: number) => Math.round(x * 100) / 100;
  return {
    n: s.length,
    p50: r(q(0.5)),
    p95: r(q(0.95)),
    p99: r(q(0.99)),
    max: r(s.at(-1) ?? NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}

const nodeName = (i: number) => `node-${String(i + 1).padStart(2, '0')}`;

function vmSpec(i: number, placement: Placement): VmNetworkSpec {
  // 10.245.0.0/16 pool: outside the 10.244.N.0/24 node subnets of the fixture.
  const ip = `10.245.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  const mac = `02:00:0a:f5:${(Math.floor(i / 250) % 256).toString(16).padStart(2, '0')}:${((i % 250) + 2).toString(16).padStart(2, '0')}`;
  return {
    cluster: { namespace: `tenant-${i % 10}`, name: `cluster-${i % 10}` },
    machine: { namespace: `tenant-${i % 10}`, name: `worker-${i}` },
    ipv4: ip,
    prefixLength: 16,
    mac,
    hostname: `worker-${i}`,
    gateway: GATEWAY,
    mtu: 1400,
    dnsServers: ['10.96.0.10'],
    placement,
  };
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const ovn = await OvnCentral.start();
  const nodes = Array.from({ length: NODES }, (_, i) => nodeName(i));
  await buildTopology(ovn, nodes);
  await ovn.syncSb();
  const idleSyncMs = stats(await Promise.all([0, 1, 2, 3, 4].map(() => timed(() => ovn.syncSb())))).p50;

  const baselineMb = heapMb();
  const timings: SyncTiming[] = [];
  const driver = new OvnDriver({ nbRemotes: ovn.nbRemote, onSync: (t) => timings.push(t) });
  try {
    await driver.start();
    await driver.ensureGateways(nodes, GATEWAY);
    const startedMb = heapMb();

    // 1. Create the VMs, CONCURRENCY syncs in flight (a controller's workers).
    const placements = new Map<number, string>();
    const createMs: number[] = [];
    let tx0 = driver.stats.transactions;
    let retries0 = driver.stats.conflictRetries;
    const tCreate = performance.now();
    await pool(
      Array.from({ length: VMS }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const node = nodes[i % NODES]!;
        placements.set(i, node);
        const t0 = performance.now();
        const obs = await driver.ensureVm(vmSpec(i, { kind: 'node', node }));
        createMs.push(performance.now() - t0);
        if (!obs.programmed) throw new Error(`worker-${i}: ${obs.reason}: ${obs.message}`);
      },
    );
    const createWallMs = performance.now() - tCreate;
    const createTx = driver.stats.transactions - tx0;
    const createRetries = driver.stats.conflictRetries - retries0;
    const northdCreateMs = await timed(() => ovn.syncSb());
    const cachedMb = heapMb();
    const cache = driver.nb.cache;
    const rows = {
      ports: cache.size('Logical_Switch_Port'),
      dhcp: cache.size('DHCP_Options'),
      routes: cache.size('Logical_Router_Static_Route'),
      policies: cache.size('Logical_Router_Policy'),
      neighbours: cache.size('Static_MAC_Binding'),
    };
    const lflows = (await ovn.sbctl('--bare', '--columns=_uuid', 'list', 'Logical_Flow'))
      .split('\n')
      .filter(Boolean).length;

    // 2. Migrations, one at a time, each phase a separate desired-state change.
    type Phase = 'target-created' | 'target-ready' | 'completed';
    const PHASES: Phase[] = ['target-created', 'target-ready', 'completed'];
    const byPhase = () =>
      Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>;
    const northdFlipMs: number[] = [];
    async function migrate(first: number, count: number, sampleNorthd: boolean) {
      const ms = byPhase();
      const tx = byPhase();
      const diff = byPhase();
      const commit = byPhase();
      for (let m = first; m < first + count; m++) {
        const i = (m * 7919) % VMS; // spread over VMs, deterministic
        const source = placements.get(i)!;
        const target = nodes[(nodes.indexOf(source) + 1 + (m % (NODES - 1))) % NODES]!;
        for (const phase of PHASES) {
          const before = driver.stats.transactions;
          timings.length = 0;
          const t0 = performance.now();
          await driver.ensureVm(
            vmSpec(i, { kind: 'migrating', source, target, phase, migrationId: `m${m}` }),
          );
          ms[phase].push(performance.now() - t0);
          tx[phase].push(driver.stats.transactions - before);
          for (const t of timings) {
            diff[phase].push(t.diffMs);
            commit[phase].push(t.commitMs);
          }
          // northd's share of a flip, on a sample: --wait=sb sync minus an idle sync.
          if (sampleNorthd && phase === 'target-ready' && m % 10 === 0)
            northdFlipMs.push((await timed(() => ovn.syncSb())) - idleSyncMs);
        }
        placements.set(i, target);
        // The controller then sees a plain placement: no write.
        await driver.ensureVm(vmSpec(i, { kind: 'node', node: target }));
      }
      const each = (r: Record<Phase, number[]>) => Object.fromEntries(PHASES.map((p) => [p, stats(r[p])]));
      return {
        latencyMs: each(ms),
        composeDiffMs: each(diff),
        transactMs: each(commit),
        transactionsPerPhase: Object.fromEntries(
          PHASES.map((p) => [
            p,
            { mean: tx[p].reduce((a, b) => a + b, 0) / (tx[p].length || 1), max: Math.max(...tx[p]) },
          ]),
        ),
      };
    }
    retries0 = driver.stats.conflictRetries;
    tx0 = driver.stats.transactions;
    const active = await migrate(0, MIGRATIONS, true);
    const migrationTx = driver.stats.transactions - tx0;
    const migrationRetries = driver.stats.conflictRetries - retries0;
    const northdAfterMigrationsMs = await timed(() => ovn.syncSb());

    // The same with ovn-northd paused: the driver and ovsdb-server alone, without northd's
    // recompute (a full one per change on 23.03) competing for this machine's two cores.
    const northdCtl = ['-t', join(ovn.dir, 'northd.ctl')];
    await execFileAsync('ovn-appctl', [...northdCtl, 'pause']);
    let paused;
    try {
      paused = await migrate(MIGRATIONS, PAUSED, false);
    } finally {
      await execFileAsync('ovn-appctl', [...northdCtl, 'resume']);
    }
    const northdAfterPausedMs = await timed(() => ovn.syncSb());

    // NB round trip of a transaction that changes nothing: the floor under every figure above.
    const rttMs: number[] = [];
    for (let k = 0; k < 100; k++) {
      rttMs.push(await timed(() => driver.nb.transact([driver.nb.ops.comment('bench: round trip')])));
    }

    // 3. A full resync of an unchanged world writes nothing.
    tx0 = driver.stats.transactions;
    const resyncMs = await timed(() =>
      pool([...placements], CONCURRENCY, async ([i, node]) => {
        await driver.ensureVm(vmSpec(i, { kind: 'node', node }));
      }),
    );
    const resyncTx = driver.stats.transactions - tx0;

    // 4. A burst: BURST migrations whose targets became ready at the same moment (an infra node
    // drained, every VM copied, all switching over together): all flips called at once, each timed
    // from its call to its commit seen in the cache.
    const burstVms = Array.from({ length: BURST }, (_, k) => (k * 7) % VMS);
    const burstTarget = (i: number) => nodes[(nodes.indexOf(placements.get(i)!) + 1) % NODES]!;
    const migrating = (i: number, phase: 'target-created' | 'target-ready') => ({
      kind: 'migrating' as const,
      source: placements.get(i)!,
      target: burstTarget(i),
      phase,
      migrationId: `burst-${i}`,
    });
    await Promise.all(burstVms.map((i) => driver.ensureVm(vmSpec(i, migrating(i, 'target-created')))));
    const nbTx0 = driver.stats.nbTransactions;
    timings.length = 0;
    const burstFlipMs = await Promise.all(
      burstVms.map((i) => timed(() => driver.ensureVm(vmSpec(i, migrating(i, 'target-ready'))))),
    );
    const burstTx = driver.stats.nbTransactions - nbTx0;
    const burstCommitMs = stats(timings.map((t) => t.commitMs));
    const burstDiffMs = stats(timings.map((t) => t.diffMs));
    for (const i of burstVms) placements.set(i, burstTarget(i));
    await Promise.all(
      burstVms.map((i) => driver.ensureVm(vmSpec(i, { kind: 'node', node: placements.get(i)! }))),
    );

    const results = {
      when: new Date().toISOString(),
      ovn: (await ovn.nbctl('--version')).split('\n')[0],
      params: {
        vms: VMS,
        nodes: NODES,
        migrations: MIGRATIONS,
        pausedMigrations: PAUSED,
        concurrency: CONCURRENCY,
      },
      create: {
        wallMs: Math.round(createWallMs),
        perVmMs: stats(createMs),
        transactions: createTx,
        transactionsPerVm: createTx / VMS,
        conflictRetries: createRetries,
        northdCatchUpMs: Math.round(northdCreateMs - idleSyncMs),
        logicalFlows: lflows,
        rows,
      },
      memory: {
        baselineHeapMb: Math.round(baselineMb * 10) / 10,
        afterStartHeapMb: Math.round(startedMb * 10) / 10,
        withVmsCachedHeapMb: Math.round(cachedMb * 10) / 10,
        overBaselineMb: Math.round((cachedMb - baselineMb) * 10) / 10,
      },
      migration: {
        ...active,
        transactions: migrationTx,
        conflictRetries: migrationRetries,
        northdPerFlipMs: stats(northdFlipMs),
        northdCatchUpAfterAllMs: Math.round(northdAfterMigrationsMs - idleSyncMs),
        idleSbSyncMs: idleSyncMs,
      },
      migrationNorthdPaused: {
        migrations: PAUSED,
        ...paused,
        northdCatchUpAfterResumeMs: Math.round(northdAfterPausedMs - idleSyncMs),
      },
      nbRoundTripMs: stats(rttMs),
      loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
      resync: { wallMs: Math.round(resyncMs), transactions: resyncTx },
      burst: {
        flips: BURST,
        flipMs: stats(burstFlipMs),
        composeDiffMs: burstDiffMs,
        commitMs: burstCommitMs,
        nbTransactions: burstTx,
      },
      targets: {
        transactionsPerPhase: '1',
        flipP99Ms: '<= 10',
        memoryOverBaselineMb: '<= 50',
      },
    };

    const flip = results.migration.latencyMs['target-ready']!;
    const row = (k: string, v: string) => console.log(`${k.padEnd(46)} ${v}`);
    console.log(
      `\nOVN driver bench: ${VMS} VMs on ${NODES} node switches, ${MIGRATIONS} migrations (${results.ovn})\n`,
    );
    row(
      'create: wall / per VM p50 p99',
      `${results.create.wallMs} ms / ${results.create.perVmMs.p50} ms ${results.create.perVmMs.p99} ms`,
    );
    row(
      'create: NB transactions per VM',
      `${results.create.transactionsPerVm.toFixed(3)} (+${createRetries} guard retries)`,
    );
    row('create: northd catch-up / logical flows', `${results.create.northdCatchUpMs} ms / ${lflows}`);
    for (const [label, run] of [
      ['northd on', results.migration],
      ['northd paused', results.migrationNorthdPaused],
    ] as const) {
      for (const [phase, s] of Object.entries(run.latencyMs)) {
        const t = run.transactionsPerPhase[phase]!;
        row(
          `${label}: ${phase} p50 p95 p99 max`,
          `${s.p50} ${s.p95} ${s.p99} ${s.max} ms; tx/phase mean ${t.mean} max ${t.max}`,
        );
      }
      const fd = run.composeDiffMs['target-ready']!;
      const fc = run.transactMs['target-ready']!;
      row(`${label}: flip compose+diff / transact p50 p99`, `${fd.p50} ${fd.p99} / ${fc.p50} ${fc.p99} ms`);
    }
    row(
      'flip p99, northd on / paused (target ≤ 10 ms)',
      `${flip.p99} / ${results.migrationNorthdPaused.latencyMs['target-ready']!.p99} ms`,
    );
    row(
      'NB round trip, empty transaction: p50 p99',
      `${results.nbRoundTripMs.p50} ${results.nbRoundTripMs.p99} ms`,
    );
    row('load average (1, 5, 15 min) at the end', results.loadAverage.join(' '));
    row(
      'northd per flip p50 p99 (sync minus idle)',
      `${results.migration.northdPerFlipMs.p50} ${results.migration.northdPerFlipMs.p99} ms`,
    );
    row(
      'heap: baseline / with VMs cached / over',
      `${results.memory.baselineHeapMb} / ${results.memory.withVmsCachedHeapMb} / ${results.memory.overBaselineMb} MB (target ≤ 50)`,
    );
    row('resync of unchanged world: wall / transactions', `${results.resync.wallMs} ms / ${resyncTx}`);
    row(
      `burst of ${BURST} flips at once: p50 p99 max / NB tx`,
      `${results.burst.flipMs.p50} ${results.burst.flipMs.p99} ${results.burst.flipMs.max} ms / ${burstTx}`,
    );
    row(
      'burst: compose+diff / commit p50 p99',
      `${burstDiffMs.p50} ${burstDiffMs.p99} / ${burstCommitMs.p50} ${burstCommitMs.p99} ms`,
    );
    const out = join(dirname(fileURLToPath(import.meta.url)), 'results.json');
    // Formatted as the repository's prettier check wants it, so the file can be committed.
    writeFileSync(out, await format(JSON.stringify(results), { parser: 'json', filepath: out }));
    console.log(`\nwrote ${out}`);
  } finally {
    await driver.stop();
    await ovn.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
