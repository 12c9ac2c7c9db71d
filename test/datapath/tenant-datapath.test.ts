// Real packets on a real OVN datapath, driven end to end: the API server, the KubeVirt simulator,
// capk-podnet's controller with the OVN driver, and per infra node OVS + ovn-controller in network
// namespaces. The guest configures itself only by DHCP from its port; the harness never writes NB.
import { analyzeMigration, cutoverMarks, formatTable } from '../../bench/migration/analysis.js';
import { TenantWorld, type TenantWorldOptions } from '../env/tenant-world.js';
import { testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { GATEWAY } from '../network-ovn/topology.js';
import type { GuestVm } from './guest.js';
import { datapathUnavailable } from './netns.js';
import { killProbe, startProbePair, stopProbe, type Probe } from './probe-runner.js';

const kc = testKubeConfig();
const unavailable = datapathUnavailable();
if (unavailable) console.warn(`test/datapath skipped: ${unavailable}`);
const suite = unavailable ? describe.skip : describe;

// The template's default pool: outside the infra cluster network (10.244.0.0/16 here).
const POOL = '10.100.0.0/24';
const DNS = ['10.96.0.10'];

async function ping(w: TenantWorld, netns: string, ip: string): Promise<void> {
  // A few tries: the first packet after a change may still find a cold neighbour cache.
  await w.datapath!.exec(netns, 'ping', '-c', '1', '-W', '1', ip).catch(async () => {
    await w.datapath!.exec(netns, 'ping', '-c', '3', '-i', '0.2', '-W', '1', ip);
  });
}

function guestOf(w: TenantWorld, name: string): Promise<GuestVm> {
  return w.datapath!.waitGuest(w.ns, name);
}

/** The guest once its machine is NetworkReady and DHCP has configured it. */
async function leasedGuest(w: TenantWorld, name: string): Promise<GuestVm> {
  await w.networkReadyOn(name);
  const guest = await guestOf(w, name);
  await guest.waitLease(30_000);
  return guest;
}

/** Three infra nodes with a datapath, one tenant cluster of the pool, one VM t-m1. */
async function tenantWithOneVm(prefix: string, ovn?: TenantWorldOptions['ovn']): Promise<TenantWorld> {
  const w = await TenantWorld.start({
    kc,
    prefix,
    nodes: 3,
    datapath: true,
    timing: { migrationMs: 100 },
    ...(ovn ? { ovn } : {}),
  });
  try {
    await w.createCluster('t', { ipam: { cidrs: [POOL] }, dnsServers: DNS });
    await w.createMachine('t', 't-m1');
    return w;
  } catch (e) {
    await w.stop(); // afterAll never sees this world
    throw e;
  }
}

/**
 * One TCP echo connection and one bulk stream from a pod to the VM, kept across `migrations` live
 * migrations back and forth: no reset, no reconnect, byte stream intact, every outage recovered.
 */
async function expectTcpIntactAcrossMigrations(w: TenantWorld, migrations: number): Promise<void> {
  const guest = await leasedGuest(w, 't-m1');
  const ip = (await w.networkReadyOn('t-m1')).status!.network!.ipv4!;
  // The client pod sits where the VM runs now: the VM moves away from it and back beside it.
  const clientPod = w.datapath!.pod(await w.vmiNode('t-m1'));
  const interval = 5;
  const probes: Probe[] = [];
  try {
    const { server, client } = await startProbePair({
      serverNetns: guest.netns,
      clientNetns: clientPod.netns,
      target: ip,
      intervalMs: interval,
      started: probes,
    });
    const marksBefore = guest.switchovers.length;
    const visited: string[] = [await w.vmiNode('t-m1')];
    for (let i = 0; i < migrations; i++) {
      await new Promise((r) => setTimeout(r, 500));
      expect(await w.migrate('t-m1')).toEqual({ phase: 'Succeeded' });
      visited.push(await w.vmiNode('t-m1'));
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const stoppingAt = Date.now();
    const clientReport = await stopProbe(client);
    const serverReport = await stopProbe(server);
    probes.length = 0;

    // Back and forth: it left a node and came back to one it had left.
    expect(new Set(visited).size).toBeGreaterThanOrEqual(2);
    for (const r of [clientReport, serverReport]) {
      expect(r.tcp.errors).toEqual([]);
      expect(r.bulk.patternOk).toBe(true);
    }
    // The connection ended only when the client was stopped: no reset, no reconnect.
    expect(clientReport.tcp.closed).toBe(false);
    expect(serverReport.tcp.closed ? serverReport.tcp.closedAtMs : stoppingAt).toBeGreaterThanOrEqual(
      stoppingAt,
    );
    expect(serverReport.tcp.connections ?? 1).toBe(1);
    expect(clientReport.tcp.mismatchAt).toBeUndefined();
    expect(clientReport.tcp.bytesVerified).toBeGreaterThan(0);
    // Everything written was echoed back intact, up to what was still in flight at the stop.
    expect(clientReport.tcp.bytesSent - clientReport.tcp.bytesVerified).toBeLessThan(64 * 1024);

    const marks = cutoverMarks(guest.switchovers.slice(marksBefore));
    expect(marks).toHaveLength(migrations);
    const a = analyzeMigration({ client: clientReport, server: serverReport, intervalMs: interval, marks });
    if (a.stats.combined.max >= 2_000) console.log(formatTable(a));
    for (const c of a.cutovers) {
      // Every outage ended; the bound is OVN-Kubernetes' e2e allowance, the figures are bench/migration's.
      expect(c.podToVm.recovered && c.vmToPod.recovered).toBe(true);
      expect(c.combinedDowntimeMs).toBeLessThan(2_000);
    }
  } finally {
    for (const p of probes) await killProbe(p);
  }
}

suite('real packets: DHCP, gateway, reachability and TCP across live migrations', () => {
  let w: TenantWorld;
  beforeAll(async () => {
    w = await tenantWithOneVm('dp');
  }, 90_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('gives the guest its stable IP, gateway, classless routes, MTU, DNS and hostname by DHCP', async () => {
    const m = await w.networkReadyOn('t-m1');
    const net = m.status!.network!;
    const guest = await guestOf(w, 't-m1');
    const lease = await guest.waitLease(30_000);
    expect(lease).toMatchObject({
      ip: net.ipv4,
      mask: '32',
      router: GATEWAY.ipv4,
      mtu: '1400',
      dns: DNS.join(' '),
      hostname: 't-m1',
      serverid: GATEWAY.ipv4,
      staticroutes: `${GATEWAY.ipv4}/32 0.0.0.0 0.0.0.0/0 ${GATEWAY.ipv4}`,
    });
    expect(await guest.exec('ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0')).toContain(`${net.ipv4}/32`);
    expect(await guest.exec('ip', 'route', 'show', 'default')).toContain(`via ${GATEWAY.ipv4}`);
    expect(w.datapath!.problems).toEqual([]);
  }, 60_000);

  it('answers ARP for the gateway with the same MAC on every node', async () => {
    const guest = await leasedGuest(w, 't-m1');
    const seen: string[] = [];
    for (let i = 0; i < w.nodes.length; i++) {
      const node = await w.vmiNode('t-m1');
      // A real ARP request on the wire; arping prints the MAC that answered.
      const out = await guest.exec('busybox', 'arping', '-c', '1', '-w', '2', '-I', 'eth0', GATEWAY.ipv4);
      seen.push(`${node} ${/reply from \S+ \[([0-9a-f:]+)\]/i.exec(out)?.[1]?.toLowerCase() ?? out}`);
      if (i < w.nodes.length - 1) expect(await w.migrate('t-m1')).toEqual({ phase: 'Succeeded' });
    }
    // The scheduler may bring it back to a node it left; at least two different nodes answered.
    expect(new Set(seen.map((s) => s.split(' ')[0])).size).toBeGreaterThanOrEqual(2);
    for (const s of seen) expect(s.split(' ')[1]).toBe(GATEWAY.mac);
  }, 90_000);

  it('is reachable from a pod on its node and from a pod on another node, before and after migrating', async () => {
    const ip = (await w.networkReadyOn('t-m1')).status!.network!.ipv4!;
    for (let round = 0; round < 2; round++) {
      const node = await w.vmiNode('t-m1');
      await w.networkReadyOn('t-m1', node);
      const same = w.datapath!.pod(node);
      const other = w.datapath!.pod(w.nodes.find((n) => n.name !== node)!.name);
      await ping(w, same.netns, ip);
      await ping(w, other.netns, ip);
      if (round === 0) expect(await w.migrate('t-m1')).toEqual({ phase: 'Succeeded' });
    }
  }, 90_000);

  it('keeps a long-lived TCP connection and its byte stream intact across migrations back and forth', async () => {
    await expectTcpIntactAcrossMigrations(w, 4);
  }, 120_000);

  it('renews its lease on the node it migrated to and keeps the same IP', async () => {
    const guest = await leasedGuest(w, 't-m1');
    const ip = (await w.networkReadyOn('t-m1')).status!.network!.ipv4!;
    expect(await w.migrate('t-m1')).toEqual({ phase: 'Succeeded' });
    const node = await w.vmiNode('t-m1');
    await w.networkReadyOn('t-m1', node);
    expect(guest.node).toBe(node);
    const renewed = await guest.renew();
    expect(renewed).toMatchObject({ event: 'renew', ip, serverid: GATEWAY.ipv4 });
  }, 60_000);

  it('gets the same IP by DHCP after a VM restart', async () => {
    const before = await leasedGuest(w, 't-m1');
    const ip = (await w.networkReadyOn('t-m1')).status!.network!.ipv4!;
    await w.sim.restartVm(w.ns, 't-m1');
    const after = await waitFor(
      'a new guest',
      async () => {
        const g = w.datapath!.guest(w.ns, 't-m1');
        return g && g !== before ? g : undefined;
      },
      30_000,
    );
    const lease = await after.waitLease(30_000);
    expect(lease.ip).toBe(ip);
    const node = await w.vmiNode('t-m1');
    await ping(w, w.datapath!.pod(node).netns, ip);
  }, 90_000);
});

// OVN's multi-chassis port without activation: during a migration the VM's one port is bound on
// both chassis and packets reach both, so the cutover does not wait for routes to flip.
suite('real packets with the multi-chassis handover', () => {
  let w: TenantWorld;
  beforeAll(async () => {
    w = await tenantWithOneVm('dpmc', { migration: 'multi-chassis', multiChassisActivation: 'none' });
  }, 90_000);
  afterAll(async () => {
    await w?.stop();
  });

  it('keeps TCP intact across migrations, and pods on every node reach the VM after them', async () => {
    await expectTcpIntactAcrossMigrations(w, 3);
    const ip = (await w.networkReadyOn('t-m1', await w.vmiNode('t-m1'))).status!.network!.ipv4!;
    for (const n of w.nodes) await ping(w, w.datapath!.pod(n.name).netns, ip);
  }, 120_000);
});
