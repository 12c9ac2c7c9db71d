// bench/migration: live-migration downtime on a real OVN datapath, as a tenant's connections see it.
// Own kube-apiserver + etcd, a real OVN central, three infra nodes (OVS userspace datapath +
// ovn-controller in namespaces), the KubeVirt simulator, capk-podnet's manager with the OVN driver.
// One tenant VM migrates back and forth between two nodes while a pod on the third node probes it
// (UDP both ways every few ms, a TCP echo stream checked byte for byte, a bulk TCP stream).
//   node --import tsx bench/migration/main.ts [--migrations 20] [--interval-ms 5] [--pause-ms 1500]
// Prints a table; writes bench/migration/results.{json,svg,html}.
// Targets (issue 8): 0 TCP resets; downtime p99 ≤ 50 ms; controller reaction (target ready → routes
// committed) p99 ≤ 20 ms.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { installCrdFiles, projectCrdFiles } from '../../test/env/crds.js';
import { KubeControlPlane } from '../../test/env/kube-control-plane.js';
import { TenantWorld } from '../../test/env/tenant-world.js';
import { datapathUnavailable } from '../../test/datapath/netns.js';
import { killProbe, startProbePair, stopProbe, type Probe } from '../../test/datapath/probe-runner.js';
import {
  analyzeMigration,
  cutoverMarks,
  downtimeStats,
  formatTable,
  tcpOutcome,
  type ProbeReport,
} from './analysis.js';
import { renderHtml, renderSvg } from './plot.js';
import {
  buildManager,
  cutoverLaneStages,
  startManagerProcess,
  type ManagerProcess,
} from '../scale/manager-process.js';

const { values } = parseArgs({
  options: {
    migrations: { type: 'string', default: '20' },
    'interval-ms': { type: 'string', default: '5' },
    'pause-ms': { type: 'string', default: '1500' },
    'bulk-rate-kbps': { type: 'string', default: '2000' },
    // two-ports: the controller flips the routes at target-ready (default). multi-chassis: one port
    // bound on both chassis for the migration, delivered to both (no activation).
    mode: { type: 'string', default: 'two-ports' },
    // process: capk-podnet's manager as its own process through the CLI, as it runs in a cluster
    // (default). in-process: inside this process, sharing its event loop with the simulator and
    // the harness.
    manager: { type: 'string', default: 'process' },
    // Windows without a migration, measured the same way before the first one: what the probe
    // reads as downtime on this machine when nothing moves (receiver not scheduled, queueing).
    'baseline-windows': { type: 'string', default: '5' },
  },
});
const MIGRATIONS = Number(values.migrations);
const INTERVAL_MS = Number(values['interval-ms']);
const PAUSE_MS = Number(values['pause-ms']);
const MODE = values.mode === 'multi-chassis' ? 'multi-chassis' : 'two-ports';
const OUT = dirname(fileURLToPath(import.meta.url));
const SUFFIX = MODE === 'two-ports' ? '' : `-${MODE}`;
const MANAGER = values.manager === 'in-process' ? 'in-process' : 'process';
// The analysis window around each mark (a cutover's, or a baseline's): narrower than the spacing
// of migrations, so that no outage counts for two cutovers.
const WINDOW = { windowBeforeMs: 500, windowAfterMs: Math.min(1_500, PAUSE_MS) };
const WINDOW_MS = WINDOW.windowBeforeMs + WINDOW.windowAfterMs;

const log = (m: string) => console.log(`[migration ${new Date().toISOString().slice(11, 23)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => Number(x.toFixed(d));
/** n1 for bench-mig-<id>-n1: the table's labels stay short. */
const shortNode = (node: string) => node.replace(/^.*-/, '');

/** TCP counters of one namespace (they are per network namespace). */
async function tcpCounters(
  w: TenantWorld,
  netns: string,
): Promise<{ retransSegs: number; estabResets: number }> {
  const snmp = await w.datapath!.exec(netns, 'cat', '/proc/net/snmp');
  const lines = snmp.split('\n').filter((l) => l.startsWith('Tcp:'));
  const keys = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/);
  const get = (k: string) => Number(vals[keys.indexOf(k)]);
  return { retransSegs: get('RetransSegs'), estabResets: get('EstabResets') };
}

async function main(): Promise<void> {
  const unavailable = datapathUnavailable();
  if (unavailable) throw new Error(`bench/migration ${unavailable}`);
  const loadAtStart = loadavg().map((x) => round(x, 2));
  log(`load average ${loadAtStart.join(' ')}`);
  const cp = await KubeControlPlane.start();
  let world: TenantWorld | undefined;
  let manager: ManagerProcess | undefined;
  const probes: Probe[] = [];
  try {
    await installCrdFiles(cp.kubeconfigPath, projectCrdFiles());
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    world = await TenantWorld.start({
      kc,
      prefix: 'bench-mig',
      nodes: 3,
      datapath: true,
      timing: { migrationMs: 100 },
      ...(MODE === 'multi-chassis'
        ? { ovn: { migration: 'multi-chassis', multiChassisActivation: 'none' } as const }
        : {}),
      manager: MANAGER === 'in-process',
    });
    const w = world;
    if (MANAGER === 'process') {
      manager = await startManagerProcess(buildManager(), {
        kc,
        kubeconfigPath: cp.kubeconfigPath,
        namespace: w.ns,
        nbRemote: w.ovn.nbRemote,
        flags: {
          // One replica: a lease renewal that misses its deadline on a busy machine would stop it.
          'leader-elect': 'false',
          ...(MODE === 'multi-chassis'
            ? { 'ovn-migration': 'multi-chassis', 'ovn-multi-chassis-activation': 'none' }
            : {}),
        },
      });
      log(`manager pid ${manager.pid}, log ${manager.logFile}`);
    }
    await w.createCluster('t', { ipam: { cidrs: ['10.100.0.0/24'] }, dnsServers: ['10.96.0.10'] });
    await w.createMachine('t', 't-m1');
    const ip = (await w.networkReadyOn('t-m1', undefined, 60_000)).status!.network!.ipv4!;
    const guest = await w.datapath!.waitGuest(w.ns, 't-m1');
    const lease = await guest.waitLease(30_000);
    log(`VM t-m1 ${ip} on ${await w.vmiNode('t-m1')}, leased ${lease.ip} by DHCP`);

    // The probing pod sits on the node the VM is not migrated between (the scheduler alternates
    // the VM between the two nodes it has not just left, lowest name first).
    const clientPod = w.datapath!.pod(w.nodes[2]!.name);
    const { server, client } = await startProbePair({
      serverNetns: guest.netns,
      clientNetns: clientPod.netns,
      target: ip,
      intervalMs: INTERVAL_MS,
      bulkRateKbps: Number(values['bulk-rate-kbps']),
      started: probes,
      realtime: true,
    });
    const countersBefore = {
      pod: await tcpCounters(w, clientPod.netns),
      vm: await tcpCounters(w, guest.netns),
    };
    await sleep(PAUSE_MS);
    const quietFromMs = performance.timeOrigin + performance.now();
    const BASELINE_WINDOWS = Number(values['baseline-windows']);
    await sleep(BASELINE_WINDOWS * WINDOW_MS);

    const reactions: number[] = [];
    const rows: { from: string; to: string; phase: string; reactionMs?: number; retransmissions: number }[] =
      [];
    const retransNow = async () =>
      (await tcpCounters(w, clientPod.netns)).retransSegs + (await tcpCounters(w, guest.netns)).retransSegs;
    for (let i = 0; i < MIGRATIONS; i++) {
      const retransBefore = await retransNow();
      const from = await w.vmiNode('t-m1');
      const { phase } = await w.migrate('t-m1');
      const to = await w.vmiNode('t-m1');
      const m = await w.networkReadyOn('t-m1', to);
      const reactionMs = m.status?.network?.lastMigration?.cutoverMilliseconds;
      if (reactionMs !== undefined) reactions.push(reactionMs);
      await sleep(PAUSE_MS);
      // Counted over the migration and the pause after it, where its retransmissions fall.
      const retransmissions = (await retransNow()) - retransBefore;
      rows.push({ from, to, phase, retransmissions, ...(reactionMs !== undefined ? { reactionMs } : {}) });
      log(
        `#${i} ${from} → ${to} ${phase}, controller reaction ${reactionMs ?? '?'} ms, ${retransmissions} TCP retransmissions`,
      );
    }
    const clientReport: ProbeReport = await stopProbe(client);
    const serverReport: ProbeReport = await stopProbe(server);
    probes.length = 0;
    const countersAfter = {
      pod: await tcpCounters(w, clientPod.netns),
      vm: await tcpCounters(w, guest.netns),
    };

    const marks = cutoverMarks(guest.switchovers, (from, to) => `${shortNode(from)} → ${shortNode(to)}`);
    const analysis = analyzeMigration({
      client: clientReport,
      server: serverReport,
      intervalMs: INTERVAL_MS,
      marks,
      ...WINDOW,
    });
    const baseline = analyzeMigration({
      client: clientReport,
      server: serverReport,
      intervalMs: INTERVAL_MS,
      marks: Array.from({ length: BASELINE_WINDOWS }, (_, index) => ({
        index,
        label: 'no migration',
        atMs: quietFromMs + WINDOW.windowBeforeMs + index * WINDOW_MS,
      })),
      ...WINDOW,
    }).stats;
    const tcp = tcpOutcome(clientReport, serverReport);
    const retransmissions =
      countersAfter.pod.retransSegs -
      countersBefore.pod.retransSegs +
      (countersAfter.vm.retransSegs - countersBefore.vm.retransSegs);
    const reaction = downtimeStats(reactions);
    const flipStages = manager ? cutoverLaneStages(await manager.metrics()) : undefined;
    console.log('\n' + formatTable(analysis));
    const summary = {
      mode: MODE,
      manager: MANAGER,
      migrations: rows.length,
      failedMigrations: rows.filter((r) => r.phase !== 'Succeeded').length,
      intervalMs: INTERVAL_MS,
      downtimeMs: analysis.stats,
      // The same measure in windows where nothing moved: the floor of this machine's probe.
      baselineNoMigrationMs: baseline,
      tcp: {
        resets: tcp.resets,
        errors: tcp.errors.length,
        intact: tcp.intact,
        bytesVerified: clientReport.tcp.bytesVerified,
        bulkBytes: serverReport.bulk.bytesReceived ?? 0,
        retransmissions,
        estabResets:
          countersAfter.pod.estabResets -
          countersBefore.pod.estabResets +
          (countersAfter.vm.estabResets - countersBefore.vm.estabResets),
      },
      controllerReactionMs: reaction,
      // Of the reaction, the flip's NB commit as the manager's histogram saw it (lane wait, the
      // transaction, the cache showing it): what is left is the manager's own.
      ...(flipStages ? { flipCommit: flipStages.commit, flipWaitBehindMachine: flipStages.wait } : {}),
      targets: {
        resets: { target: 0, met: tcp.resets === 0 },
        downtimeP99Ms: {
          target: 50,
          value: analysis.stats.combined.p99,
          met: analysis.stats.combined.p99 <= 50,
        },
        reactionP99Ms: { target: 20, value: reaction.p99, met: reaction.p99 <= 20 },
      },
      loadAverage: { start: loadAtStart, end: loadavg().map((x) => round(x, 2)) },
    };
    console.log(
      [
        '',
        `migrations ${summary.migrations} (${summary.failedMigrations} failed), probe every ${INTERVAL_MS} ms both ways`,
        `downtime (worse direction) p50 ${round(analysis.stats.combined.p50)} / p95 ${round(analysis.stats.combined.p95)} / p99 ${round(analysis.stats.combined.p99)} / max ${round(analysis.stats.combined.max)} ms  (target p99 ≤ 50)`,
        `  pod→VM p50 ${round(analysis.stats.podToVm.p50)} / p99 ${round(analysis.stats.podToVm.p99)} ms; VM→pod p50 ${round(analysis.stats.vmToPod.p50)} / p99 ${round(analysis.stats.vmToPod.p99)} ms`,
        `same measure without a migration (${BASELINE_WINDOWS} windows): p50 ${round(baseline.combined.p50)} / max ${round(baseline.combined.max)} ms`,
        `controller reaction p50 ${reaction.p50} / p99 ${reaction.p99} / max ${reaction.max} ms  (target p99 ≤ 20)`,
        ...(flipStages
          ? [
              `  of which the flip's NB commit: ${flipStages.commit.count} commits, mean ${flipStages.commit.meanMs} ms; ≤ 5 ms ${flipStages.commit.within5ms}, ≤ 10 ms ${flipStages.commit.within10ms}, ≤ 20 ms ${flipStages.commit.within20ms}`,
              `  and behind the machine's earlier driver calls: mean ${flipStages.wait.meanMs} ms; ≤ 5 ms ${flipStages.wait.within5ms}`,
            ]
          : []),
        `TCP: resets ${tcp.resets} (target 0), errors ${summary.tcp.errors}, stream intact ${tcp.intact}, ${clientReport.tcp.bytesVerified} echo bytes verified, ${summary.tcp.bulkBytes} bulk bytes, ${retransmissions} retransmitted segments`,
        `load average ${summary.loadAverage.start.join(' ')} → ${summary.loadAverage.end.join(' ')}`,
      ].join('\n'),
    );
    writeFileSync(
      join(OUT, `results${SUFFIX}.json`),
      JSON.stringify(
        {
          summary,
          migrations: rows,
          cutovers: analysis.cutovers.map((c) => ({
            index: c.index,
            label: c.label,
            atMs: c.atMs,
            podToVmMs: c.podToVm.downtimeMs,
            vmToPodMs: c.vmToPod.downtimeMs,
            podToVmLost: c.podToVm.lost,
            vmToPodLost: c.vmToPod.lost,
            combinedMs: c.combinedDowntimeMs,
          })),
        },
        null,
        2,
      ) + '\n',
    );
    writeFileSync(join(OUT, `results${SUFFIX}.svg`), renderSvg(analysis));
    writeFileSync(
      join(OUT, `results${SUFFIX}.html`),
      renderHtml(analysis, {
        title: 'capk-podnet: live-migration downtime on a real OVN datapath',
        facts: {
          mode: MODE,
          migrations: rows.length,
          'probe interval': `${INTERVAL_MS} ms`,
          'TCP resets': tcp.resets,
          'retransmitted segments': retransmissions,
          'controller reaction p50/p99': `${reaction.p50} / ${reaction.p99} ms`,
          'load average': summary.loadAverage.start.join(' '),
        },
      }),
    );
    log(`wrote ${join(OUT, `results${SUFFIX}`)}.{json,svg,html}`);
  } finally {
    for (const p of probes) await killProbe(p);
    await manager?.stop().catch((e: unknown) => console.error(e));
    await world?.stop().catch((e: unknown) => console.error(e));
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
