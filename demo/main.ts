// `npm run demo`: the main job, on real parts wherever this machine can run them.
//   1. a local control plane (real kube-apiserver + etcd) and a real OVN central with an
//      OVN-Kubernetes-like infra topology of 3 nodes;
//   2. the KubeVirt simulator on those nodes, capk's VM-creating part stood in, and capk-podnet's
//      manager: in-cluster IPAM, the machine network controller with the OVN driver, the cluster
//      network controller (exposure), the VM webhook;
//   3. a tenant cluster from templates/cluster-template.yaml (1 control plane, 2 workers; machines
//      stamped from the KubevirtMachineTemplates as Cluster API would);
//   4. live migrations and a node drain, with the routes following each VM, checked with ovn-trace,
//      and the API server's infra Service (the template's `api` entry) following its VM;
//   5. as root, real packets (test/datapath): each infra node runs OVS + ovn-controller in a network
//      namespace, each VM is a guest namespace that configures itself by DHCP from its port, and a
//      pod keeps a TCP stream to a worker through its migrations, with the downtime measured, and a
//      pod reaches the control-plane VM through the `api` Service's cluster IP (OVN-Kubernetes'
//      services controller stood in by test/env/service-proxy.ts) before and after the drain;
//   6. a report (stdout and reports/demo-report.json).
//   npm run demo            run the scenario, print the report, tear everything down
//   npm run demo -- --keep  leave the control plane and OVN running until Ctrl-C
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  KubevirtClusters,
  KubevirtMachines,
  type KubevirtCluster,
  type KubevirtMachine,
} from '../src/capk/resources.js';
import {
  EndpointSlices,
  Services,
  type EndpointSlice,
  type Service,
} from '../src/controllers/cluster-network/index.js';
import { CoreEvents, getCondition, type KubeObject } from '../src/runtime/index.js';
import { renderTemplateFile, TEMPLATE_KINDS_SERVED } from '../test/env/cluster-template.js';
import { installCrdFiles, projectCrdFiles } from '../test/env/crds.js';
import { KubeControlPlane } from '../test/env/kube-control-plane.js';
import { waitFor } from '../test/env/processes.js';
import { TenantWorld } from '../test/env/tenant-world.js';
import { arpRequest, outputs, syncTraceNeighbours } from '../test/network-ovn/trace.js';
import { datapathUnavailable } from '../test/datapath/netns.js';
import { killProbe, startProbePair, stopProbe, type Probe } from '../test/datapath/probe-runner.js';
import type { GuestVm } from '../test/datapath/guest.js';
import { awaitText, serveText } from '../test/datapath/tcp-hello.js';
import { syncServiceLoadBalancers } from '../test/env/service-proxy.js';
import { analyzeMigration, cutoverMarks, tcpOutcome } from '../bench/migration/analysis.js';

const keep = process.argv.includes('--keep');
const root = join(import.meta.dirname, '..');
const CLUSTER = 'demo';

const log = (msg: string) => console.log(`[demo ${new Date().toISOString().slice(11, 23)}] ${msg}`);

interface MachineRow {
  machine: string;
  role: string;
  ipv4: string;
  mac: string;
  node: string;
}

interface MigrationRow {
  machine: string;
  from: string;
  to: string;
  ipKept: boolean;
  routeFollowed: boolean;
  cutoverMs?: number;
  trigger: string;
  /** Probe outage around this migration's switch-over (worse direction), for the probed worker. */
  downtimeMs?: number;
}

const PROBE_INTERVAL_MS = 5;

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    let t = Date.now();
    log('starting etcd + kube-apiserver (first run builds them from the Go module proxy)');
    const cp = await KubeControlPlane.start();
    cleanups.push(() => cp.stop());
    await installCrdFiles(cp.kubeconfigPath, projectCrdFiles());
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    log(`Kubernetes ${version.gitVersion} at ${cp.server}, CRDs installed, in ${Date.now() - t} ms`);

    t = Date.now();
    const noPackets = datapathUnavailable();
    if (noPackets) log(`no real packets: ${noPackets}`);
    const world = await TenantWorld.start({
      kc,
      prefix: 'demo',
      nodes: 3,
      datapath: !noPackets,
      timing: { migrationMs: 100 },
    });
    cleanups.push(() => world.stop());
    log(
      `infra: OVN central + ${world.nodes.length} node switches${world.datapath ? ' with a chassis each (OVS userspace datapath + ovn-controller, Geneve)' : ''}, KubeVirt simulator, capk-podnet manager, in ${Date.now() - t} ms`,
    );

    // 3. The tenant cluster from the template.
    const objects = renderTemplateFile(join(root, 'templates', 'cluster-template.yaml'), {
      CLUSTER_NAME: CLUSTER,
      NAMESPACE: world.ns,
      KUBERNETES_VERSION: 'v1.34.4',
      CONTROL_PLANE_MACHINE_COUNT: '1',
      WORKER_MACHINE_COUNT: '2',
      NODE_VM_IMAGE_TEMPLATE: 'quay.io/capk/ubuntu-2404-container-disk:v1.34.4',
      CRI_PATH: '/var/run/containerd/containerd.sock',
      // NODE_IP_CIDR: the template's default, 10.100.0.0/24 (outside the infra cluster network).
    });
    const skipped: string[] = [];
    for (const o of objects) {
      const ref = TEMPLATE_KINDS_SERVED[o.kind!];
      if (ref) await world.client.create(ref, o);
      else skipped.push(o.kind!);
    }
    log(
      `applied the template (${objects.length - skipped.length} objects; no provider here for ${skipped.join(', ')})`,
    );

    // What KubeadmControlPlane and the MachineDeployment's MachineSet would do: stamp KubevirtMachines.
    const machines: { name: string; role: string }[] = [
      { name: `${CLUSTER}-control-plane-0`, role: 'control-plane' },
      { name: `${CLUSTER}-md-0-0`, role: 'worker' },
      { name: `${CLUSTER}-md-0-1`, role: 'worker' },
    ];
    for (const m of machines) {
      const template = objects.find(
        (o) =>
          o.kind === 'KubevirtMachineTemplate' &&
          o.metadata.name === `${CLUSTER}-${m.role === 'worker' ? 'md-0' : 'control-plane'}`,
      ) as KubeObject & { spec: { template: { spec: object } } };
      await world.client.create(KubevirtMachines, {
        metadata: {
          name: m.name,
          namespace: world.ns,
          labels: {
            'cluster.x-k8s.io/cluster-name': CLUSTER,
            ...(m.role === 'control-plane' ? { 'cluster.x-k8s.io/control-plane': '' } : {}),
          },
        },
        spec: template.spec.template.spec,
      } as KubeObject);
    }
    t = Date.now();
    const rows = await Promise.all(machines.map((m) => readyRow(world, m.name, m.role)));
    log(`tenant cluster up: ${rows.length} machines NetworkReady in ${Date.now() - t} ms`);
    printTable(
      ['machine', 'role', 'IPv4', 'MAC', 'infra node'],
      rows.map((r) => [r.machine, r.role, r.ipv4, r.mac, r.node]),
    );

    // Exposure: the template's `api` entry is an infra NodePort Service whose endpoint is the
    // control-plane VM's stable IP, on the node that runs it.
    const apiService = `${CLUSTER}-api`;
    const exposureBefore = await exposureRow(world, apiService, rows[0]!);
    log(
      `exposure: Service ${apiService} (${exposureBefore.type}, cluster IP ${exposureBefore.clusterIP}, node port ${exposureBefore.nodePort}) → endpoint ${exposureBefore.endpoints.join(', ')}`,
    );
    const clusterState = await clusterConditions(world);
    log(`KubevirtCluster ${CLUSTER}: ${clusterState.summary}`);

    const viaService: { before?: string; after?: string } = {};
    // capk points the tenant's controlPlaneEndpoint at its own Service (<cluster>-lb), which selects
    // launcher pods without IPs here; the cluster network controller gives it the VM's stable IP.
    const endpoint = await controlPlaneEndpoint(world);
    log(`controlPlaneEndpoint (capk's ${CLUSTER}-lb Service): ${endpoint}`);
    const viaEndpoint: { before?: string; after?: string } = {};
    // 5. Real packets, started before the migrations so that they measure them: every guest leased
    // its address by DHCP; a pod on a third node streams to a worker.
    const worker = rows[1]!;
    let probe: { server: Probe; client: Probe; guest: GuestVm; pod: string } | undefined;
    const leases: {
      machine: string;
      ip: string;
      gateway: string;
      hostname: string;
      mtu: string;
      matches: boolean;
    }[] = [];
    if (world.datapath) {
      const dp = world.datapath;
      for (const r of rows) {
        const guest = await dp.waitGuest(world.ns, r.machine);
        const l = await guest.waitLease(30_000);
        leases.push({
          machine: r.machine,
          ip: l.ip,
          gateway: l.router,
          hostname: l.hostname,
          mtu: l.mtu,
          matches: l.ip === r.ipv4 && l.router === '169.254.1.1',
        });
      }
      printTable(
        ['machine', 'DHCP lease (in the guest)', 'gateway', 'hostname', 'MTU'],
        leases.map((l) => [l.machine, `${l.ip}/32`, l.gateway, l.hostname, l.mtu]),
      );
      // A stand-in for the tenant's API server in the control-plane guest, reached through the
      // `api` Service's cluster IP (OVN-Kubernetes' services controller stood in: test/env/service-proxy.ts).
      const cpGuest = dp.guest(world.ns, rows[0]!.machine)!;
      const apiServer = serveText(cpGuest.netns, 6443, `api server of ${CLUSTER} on ${rows[0]!.machine}`);
      cleanups.push(async () => void apiServer.kill('SIGKILL'));
      viaService.before = await throughService(world, exposureBefore.clusterIP, rows[0]!.node);
      log(`through Service ${apiService}: ${viaService.before}`);
      viaEndpoint.before = await throughService(world, endpoint.split(':')[0]!, rows[0]!.node);
      log(`through the controlPlaneEndpoint ${endpoint}: ${viaEndpoint.before}`);
      const guest = dp.guest(world.ns, worker.machine)!;
      const podNode =
        world.nodes.find((n) => n.name !== worker.node && n.name !== rows[0]!.node) ?? world.nodes[2]!;
      const pod = dp.pod(podNode.name);
      const started: Probe[] = [];
      cleanups.push(async () => {
        for (const p of started) await killProbe(p);
      });
      const { server, client } = await startProbePair({
        serverNetns: guest.netns,
        clientNetns: pod.netns,
        target: worker.ipv4,
        intervalMs: PROBE_INTERVAL_MS,
        started,
      });
      probe = { server, client, guest, pod: `${pod.ip} on ${podNode.name}` };
      log(
        `probing ${worker.machine} (${worker.ipv4}) from pod ${probe.pod}: UDP every ${PROBE_INTERVAL_MS} ms both ways, a TCP echo stream and a bulk stream`,
      );
      await new Promise((r) => setTimeout(r, 1_000));
    }

    // 4. Live migrations: a worker back and forth, then a drain of the control plane's node.
    const migrations: MigrationRow[] = [];
    for (let i = 0; i < 2; i++)
      migrations.push(await migrateAndCheck(world, worker, `VirtualMachineInstanceMigration ${i + 1}`));
    const cpRow = rows[0]!;
    const drained = (await readyRow(world, cpRow.machine, cpRow.role)).node;
    const drain = await world.sim.drainNode(drained);
    log(`drained ${drained}: ${drain.marked.length} VM(s) evacuated by live migration`);
    for (const r of rows) {
      const before = r.node;
      if (before !== drained) continue;
      const after = await waitFor(
        `${r.machine} off ${drained}`,
        async () => {
          const row = await readyRow(world, r.machine, r.role);
          return row.node !== drained ? row : undefined;
        },
        60_000,
      );
      const m = await world.client.get<KubevirtMachine>(KubevirtMachines, r.machine, world.ns);
      migrations.push({
        machine: r.machine,
        from: before,
        to: after.node,
        ipKept: after.ipv4 === r.ipv4 && after.mac === r.mac,
        routeFollowed: (await southRouteNode(world, r.ipv4)) === after.node,
        cutoverMs: m.status?.network?.lastMigration?.cutoverMilliseconds,
        trigger: `drain of ${drained}`,
      });
    }
    await world.sim.uncordonNode(drained);
    const exposureAfter = await exposureRow(
      world,
      apiService,
      await readyRow(world, cpRow.machine, cpRow.role),
    );
    log(
      `exposure after the drain: Service ${apiService} → endpoint ${exposureAfter.endpoints.join(', ')} (was ${exposureBefore.endpoints.join(', ')})`,
    );
    if (world.datapath) {
      viaService.after = await throughService(world, exposureBefore.clusterIP, drained);
      log(`through Service ${apiService} after the drain: ${viaService.after}`);
      viaEndpoint.after = await throughService(world, endpoint.split(':')[0]!, drained);
      log(`through the controlPlaneEndpoint ${endpoint} after the drain: ${viaEndpoint.after}`);
    }

    let packets:
      { tcpIntact: boolean; resets: number; bytesVerified: number; probedFrom: string } | undefined;
    if (probe) {
      await new Promise((r) => setTimeout(r, 1_000));
      const client = await stopProbe(probe.client);
      const server = await stopProbe(probe.server);
      const marks = cutoverMarks(probe.guest.switchovers);
      // Windows narrower than the spacing of migrations, so that no outage counts for two cutovers.
      const analysis = analyzeMigration({
        client,
        server,
        intervalMs: PROBE_INTERVAL_MS,
        marks,
        windowBeforeMs: 500,
        windowAfterMs: 1_000,
      });
      // The probed worker's migrations, in order, are its switch-overs.
      const own = migrations.filter((m) => m.machine === worker.machine);
      own.forEach((m, i) => {
        const c = analysis.cutovers[i];
        if (c && Number.isFinite(c.combinedDowntimeMs)) m.downtimeMs = Math.round(c.combinedDowntimeMs);
      });
      const tcp = tcpOutcome(client, server);
      packets = {
        tcpIntact: tcp.intact,
        resets: tcp.resets,
        bytesVerified: client.tcp.bytesVerified,
        probedFrom: probe.pod,
      };
      log(
        `TCP from pod ${probe.pod} to ${worker.machine}: ${packets.tcpIntact ? 'one connection, intact' : 'BROKEN'} through ${own.length} migrations (${packets.bytesVerified} echo bytes verified, ${packets.resets} resets)`,
      );
    }
    printTable(
      [
        'machine',
        'trigger',
        'from',
        'to',
        'IP+MAC kept',
        'route followed',
        'cutover ms',
        'packet downtime ms',
      ],
      migrations.map((m) => [
        m.machine,
        m.trigger,
        m.from,
        m.to,
        yes(m.ipKept),
        yes(m.routeFollowed),
        String(m.cutoverMs ?? '-'),
        String(m.downtimeMs ?? '-'),
      ]),
    );

    // ovn-trace: the gateway answers ARP with the shared MAC on the node that runs each VM now.
    await syncTraceNeighbours(world.ovn);
    const arp: { machine: string; node: string; answered: boolean }[] = [];
    for (const r of rows) {
      const now = await readyRow(world, r.machine, r.role);
      const port = `capk_${world.ns}_${r.machine}_${now.node}`;
      const trace = await world.ovn.trace(
        now.node,
        arpRequest({ port, mac: now.mac, ip: now.ipv4 }, '169.254.1.1'),
        '--minimal',
      );
      arp.push({
        machine: r.machine,
        node: now.node,
        answered: outputs(trace).includes(port) && trace.includes('arp.sha = 0a:58:a9:fe:01:01'),
      });
    }
    log(
      `ovn-trace: ARP for 169.254.1.1 answered with 0a:58:a9:fe:01:01 for ${arp.filter((a) => a.answered).length}/${arp.length} VMs on their current nodes`,
    );

    // 6. The report.
    const events = (
      await world.client.list<
        KubeObject & {
          reason?: string;
          message?: string;
          involvedObject?: { name?: string };
          eventTime?: string;
          firstTimestamp?: string;
        }
      >(CoreEvents, { namespace: world.ns })
    ).items
      .filter((e) => e.involvedObject?.name?.startsWith(CLUSTER))
      // In the order they happened, per machine (a list comes in name order).
      .sort(
        (a, b) =>
          (a.involvedObject?.name ?? '').localeCompare(b.involvedObject?.name ?? '') ||
          eventMs(a) - eventMs(b),
      )
      .map((e) => `${e.involvedObject?.name}: ${e.reason} — ${e.message}`);
    const report = {
      kubernetes: version.gitVersion,
      ovn: (await world.ovn.nbctl('--version')).split('\n')[0],
      machines: rows,
      migrations,
      gatewayArp: arp,
      cluster: clusterState,
      exposure: {
        before: exposureBefore,
        after: exposureAfter,
        throughService: viaService,
        controlPlaneEndpoint: { endpoint, ...viaEndpoint },
      },
      datapath: world.datapath ? { leases, packets } : { skipped: noPackets },
      events: events.length,
      ok:
        migrations.every((m) => m.ipKept && m.routeFollowed) &&
        arp.every((a) => a.answered) &&
        exposureBefore.followed &&
        exposureAfter.followed &&
        (!world.datapath ||
          [viaService.before, viaService.after, viaEndpoint.before, viaEndpoint.after].every(
            (said) => said?.includes('"api server of') === true,
          )) &&
        leases.every((l) => l.matches) &&
        (packets === undefined || (packets.tcpIntact && packets.resets === 0)),
    };
    mkdirSync(join(root, 'reports'), { recursive: true });
    writeFileSync(
      join(root, 'reports', 'demo-report.json'),
      JSON.stringify({ ...report, eventLog: events }, null, 2),
    );
    console.log(`\nEvents (${events.length}):\n  ${events.slice(0, 30).join('\n  ')}`);
    console.log(
      `\nReport: ${report.ok ? `every VM kept its IP, MAC and gateway; routes followed every migration; the api Service's endpoint followed its VM${packets ? "; DHCP leased every stable IP, the TCP stream survived every migration, and the api Service and capk's controlPlaneEndpoint reached the control-plane VM before and after the drain" : ''}` : 'FAILED: see reports/demo-report.json'} (reports/demo-report.json)\n`,
    );
    if (keep) {
      console.log(`  kubectl --kubeconfig ${cp.kubeconfigPath} -n ${world.ns} get kubevirtmachines -o yaml`);
      console.log(`  ovn-nbctl --db=${world.ovn.nbRemote} show\n`);
      log('running until Ctrl-C (--keep)');
      setInterval(() => undefined, 1 << 30); // the daemons are detached; this keeps the signal handlers alive
      return;
    }
    if (!report.ok) process.exitCode = 1;
  } catch (e) {
    await cleanup();
    throw e;
  }
  await cleanup();
  log('stopped');
}

async function readyRow(w: TenantWorld, name: string, role: string): Promise<MachineRow> {
  return waitFor(
    `${name} NetworkReady`,
    async () => {
      const m = await w.client.get<KubevirtMachine>(KubevirtMachines, name, w.ns);
      const net = m.status?.network;
      if (getCondition(m, 'NetworkReady')?.status !== 'True' || net?.phase !== 'Ready') return undefined;
      return { machine: name, role, ipv4: net.ipv4!, mac: net.mac!, node: net.node! };
    },
    60_000,
    50,
  );
}

async function migrateAndCheck(w: TenantWorld, r: MachineRow, trigger: string): Promise<MigrationRow> {
  const before = await readyRow(w, r.machine, r.role);
  // KubeVirt admits one migration per VMI at a time: wait for the migration's own end.
  const { phase } = await w.migrate(r.machine, 60_000);
  if (phase !== 'Succeeded') throw new Error(`migration of ${r.machine} ${phase}`);
  const to = await w.vmiNode(r.machine);
  const after = await waitFor(
    `${r.machine} ready on ${to}`,
    async () => {
      const row = await readyRow(w, r.machine, r.role);
      return row.node === to ? row : undefined;
    },
    60_000,
  );
  const m = await w.client.get<KubevirtMachine>(KubevirtMachines, r.machine, w.ns);
  return {
    machine: r.machine,
    from: before.node,
    to,
    ipKept: after.ipv4 === before.ipv4 && after.mac === before.mac,
    routeFollowed: (await southRouteNode(w, after.ipv4)) === to,
    cutoverMs: m.status?.network?.lastMigration?.cutoverMilliseconds,
    trigger,
  };
}

/**
 * The tenant cluster's own conditions once the cluster network controller has written them all,
 * with the pool's usage: isolation is reported as not enforced (not built yet), and says so here.
 */
async function clusterConditions(
  w: TenantWorld,
): Promise<{ conditions: Record<string, string>; ipam: unknown; summary: string }> {
  const c = await waitFor(
    `KubevirtCluster ${CLUSTER} conditions`,
    async () => {
      const c = await w.client.get<KubevirtCluster>(KubevirtClusters, CLUSTER, w.ns);
      return getCondition(c, 'NetworkReady') && getCondition(c, 'ServicesReady') ? c : undefined;
    },
    20_000,
  );
  const conditions = Object.fromEntries(
    ['IPAMReady', 'ServicesReady', 'IsolationReady', 'NetworkReady'].map((t) => {
      const x = getCondition(c, t);
      return [t, `${x?.status} ${x?.reason}: ${x?.message}`];
    }),
  );
  const ipam = (c.status?.network as { ipam?: unknown } | undefined)?.ipam;
  const summary = Object.entries(conditions)
    .map(([t, v]) => `${t} ${v}`)
    .join('; ');
  return { conditions, ipam, summary };
}

/** The tenant's controlPlaneEndpoint as capk (stood in) sets it: host:port of its `<cluster>-lb` Service. */
async function controlPlaneEndpoint(w: TenantWorld): Promise<string> {
  return waitFor(
    `KubevirtCluster ${CLUSTER} controlPlaneEndpoint`,
    async () => {
      const c = await w.client.get<KubevirtCluster>(KubevirtClusters, CLUSTER, w.ns);
      const e = (c.spec as { controlPlaneEndpoint?: { host?: string; port?: number } } | undefined)
        ?.controlPlaneEndpoint;
      return e?.host ? `${e.host}:${e.port}` : undefined;
    },
    20_000,
  );
}

/**
 * What a pod on a node other than `avoid` reads from the cluster IP's port 6443, once the service
 * proxy stand-in has turned the Service and its EndpointSlice into load balancers.
 */
async function throughService(w: TenantWorld, clusterIP: string, avoid: string): Promise<string> {
  await syncServiceLoadBalancers(
    w.ovn,
    w.client,
    w.ns,
    w.nodes.map((n) => n.name),
  );
  const node = w.nodes.find((n) => n.name !== avoid)!.name;
  const said = await awaitText(w.datapath!.pod(node).netns, clusterIP, 6443).catch(() => '');
  return said ? `"${said}" from a pod on ${node}` : `no answer from a pod on ${node}`;
}

/**
 * An exposure Service as the API server holds it, once its EndpointSlice lists exactly this machine
 * at its stable IP on the node that runs it (`followed`; false if that does not come within 20 s).
 */
async function exposureRow(
  w: TenantWorld,
  name: string,
  m: MachineRow,
): Promise<{
  service: string;
  type: string;
  clusterIP: string;
  nodePort: string;
  endpoints: string[];
  followed: boolean;
}> {
  const want = `${m.ipv4}@${m.node}`;
  const endpoints = async () =>
    ((await w.client.tryGet<EndpointSlice>(EndpointSlices, name, w.ns))?.endpoints ?? []).map(
      (e) => `${e.addresses[0]}@${e.nodeName ?? '?'}`,
    );
  const followed = await waitFor(
    `${name} endpoint ${want}`,
    async () => ((await endpoints()).join() === want ? true : undefined),
    20_000,
  ).catch(() => false);
  const svc = await w.client.tryGet<Service>(Services, name, w.ns);
  return {
    service: name,
    type: svc?.spec?.type ?? '-',
    clusterIP: svc?.spec?.clusterIP ?? '-',
    nodePort: String(svc?.spec?.ports?.[0]?.nodePort ?? '-'),
    endpoints: await endpoints(),
    followed,
  };
}

/** The node of the VM's one south route, or undefined when there is not exactly one. */
async function southRouteNode(w: TenantWorld, ip: string): Promise<string | undefined> {
  const nodes = await w.southRouteNodes(ip);
  return nodes.length === 1 ? nodes[0] : undefined;
}

const yes = (b: boolean) => (b ? 'yes' : 'NO');

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(head)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

/** When an Event happened (to the second: events of one second keep the list's order). */
function eventMs(e: {
  eventTime?: string;
  firstTimestamp?: string;
  metadata: { creationTimestamp?: string };
}): number {
  return Date.parse(e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '') || 0;
}
