// The migration probe (apps/probe.mjs) on real sockets: a server and a client in two network
// namespaces of their own joined by a veth pair, a ~100 ms link outage in the middle, and the
// bench/migration analysis run over their reports. Packets never leave these namespaces.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  analyzeMigration,
  receiveGaps,
  type MigrationAnalysis,
  type ProbeReport,
} from '../../bench/migration/analysis.js';
import { txChecksumOff } from './netns.js';
import { startNodeIn as startNode, startProbe, stopProbe, type Probe } from './probe-runner.js';

const exec = promisify(execFile);
const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('probe datapath test skipped: creating network namespaces needs root');
const describeAsRoot = isRoot ? describe : describe.skip;

const INTERVAL_MS = 5;
// Receive times are taken in the probe's event loop: a late wake-up for the last packet before the
// outage shortens the measured gap by as much (7 ms once, on CI with every suite running at once).
const RECEIVE_LAG_MS = 10;
const SERVER_IP = '10.251.0.1';
const CLIENT_IP = '10.251.0.2';

// Stand-in peers that break the pattern at a known offset, so the checks are seen to catch it.
// CommonJS for `node -e`; they exit when their stdin closes.
const CORRUPT_SENDER = `
const net = require('node:net');
const pattern = (n, badAt) => Buffer.from(Array.from({ length: n }, (_, i) => (i === badAt ? 250 - (i % 251) : i % 251)));
let open = 2;
const done = () => { if (--open === 0) console.log('ready {}'); };
// resume(): the peer's FIN (and so 'close') is only seen by a socket that reads.
net.connect(7300, process.argv[1]).on('close', done).end(pattern(200, 30)).resume();
net.connect(7301, process.argv[1]).on('close', done).end(pattern(200, 150)).resume();
process.stdin.on('end', () => process.exit(0)).resume();
`;
const CORRUPT_ECHO = `
const net = require('node:net');
net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => {
    const b = Buffer.from(d);
    if (n <= 100 && n + b.length > 100) b[100 - n] ^= 0xff;
    n += b.length;
    s.write(b);
  });
}).listen(7200, () => console.log('ready {}'));
process.stdin.on('end', () => process.exit(0)).resume();
`;

async function ip(...args: string[]): Promise<void> {
  await exec('ip', args);
}

describeAsRoot('probe app over a veth pair with a 100 ms link outage', () => {
  const tag = randomBytes(3).toString('hex');
  const nsServer = `capkpn-probe-${tag}-s`;
  const nsClient = `capkpn-probe-${tag}-c`;
  const created: string[] = [];
  const probes: Probe[] = [];
  let client: ProbeReport;
  let server: ProbeReport;
  let analysis: MigrationAnalysis;
  // The link is surely down from downDone to upStart, and at most from downStart to upDone.
  let outage: { downStart: number; downDone: number; upStart: number; upDone: number };

  beforeAll(async () => {
    for (const ns of [nsServer, nsClient]) {
      await ip('netns', 'add', ns);
      created.push(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', nsServer, 'link', 'add', 's0', 'type', 'veth', 'peer', 'name', 'c0', 'netns', nsClient);
    for (const [ns, dev, addr] of [
      [nsServer, 's0', SERVER_IP],
      [nsClient, 'c0', CLIENT_IP],
    ] as const) {
      await ip('-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev);
      // As on the harness's OVS ports.
      await txChecksumOff(ns, dev);
      await ip('-n', ns, 'link', 'set', dev, 'up');
    }
    // Permanent neighbours: Linux flushes learned ones when the link drops, and a re-ARP lost at
    // link-up waits a second; this test is about the probe, not about ARP.
    for (const [ns, dev, peerDev, peerNs, peerIp] of [
      [nsServer, 's0', 'c0', nsClient, CLIENT_IP],
      [nsClient, 'c0', 's0', nsServer, SERVER_IP],
    ] as const) {
      const link = (await exec('ip', ['-n', peerNs, '-br', 'link', 'show', peerDev])).stdout
        .trim()
        .split(/\s+/);
      await ip('-n', ns, 'neigh', 'replace', peerIp, 'lladdr', link[2]!, 'dev', dev, 'nud', 'permanent');
    }

    const srv = startProbe(nsServer, [
      'server',
      '--listen-port',
      '7000',
      '--interval-ms',
      String(INTERVAL_MS),
    ]);
    probes.push(srv);
    await srv.ready;
    const cli = startProbe(nsClient, [
      'client',
      '--target',
      SERVER_IP,
      '--interval-ms',
      String(INTERVAL_MS),
      '--bulk-rate-kbps',
      '2000',
    ]);
    probes.push(cli);
    await cli.ready;

    await sleep(700);
    const downStart = nowMs();
    await ip('-n', nsClient, 'link', 'set', 'c0', 'down');
    const downDone = nowMs();
    await sleep(100);
    const upStart = nowMs();
    await ip('-n', nsClient, 'link', 'set', 'c0', 'up');
    const upDone = nowMs();
    outage = { downStart, downDone, upStart, upDone };
    await sleep(700);

    // Client first: it drains its echo and flushes its bulk stream, so the server has seen it all.
    client = await stopProbe(cli);
    await sleep(200);
    server = await stopProbe(srv);
    analysis = analyzeMigration({
      client,
      server,
      intervalMs: INTERVAL_MS,
      marks: [{ index: 0, atMs: downStart, label: 'veth down 100 ms' }],
    });
    const c = analysis.cutovers[0];
    console.log(
      `injected outage ${(upStart - downDone).toFixed(1)}–${(upDone - downStart).toFixed(1)} ms; measured ` +
        `pod→VM ${c?.podToVm.downtimeMs.toFixed(1)} ms (${c?.podToVm.lost} lost), ` +
        `VM→pod ${c?.vmToPod.downtimeMs.toFixed(1)} ms (${c?.vmToPod.lost} lost), ` +
        `TCP echo stall ${client.tcp.maxRecvGapMs?.toFixed(1)} ms, ` +
        `UDP send errors on the client ${client.udp.sendErrors} (${client.udp.lastSendError ?? 'none'})`,
    );
  }, 30_000);

  afterAll(async () => {
    for (const p of probes) {
      // Only a child not yet reaped: the pid of one that exited may belong to someone else by now.
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* exited meanwhile */
      }
    }
    for (const ns of created) await ip('netns', 'del', ns).catch(() => undefined);
  });

  it('keeps the TCP echo stream intact and verified byte for byte', () => {
    expect(client.tcp).toMatchObject({ errors: [], closed: false });
    expect(client.tcp.mismatchAt).toBeUndefined();
    expect(client.tcp.bytesSent).toBeGreaterThan(0);
    expect(client.tcp.bytesVerified).toBe(client.tcp.bytesSent);
    expect(server.tcp).toMatchObject({ errors: [], connections: 1 });
    expect(server.tcp.mismatchAt).toBeUndefined();
    expect(server.tcp.bytesVerified).toBe(client.tcp.bytesSent);
    // The echo stalled at least as long as the link was down, and TCP carried on after it.
    expect(client.tcp.maxRecvGapMs).toBeGreaterThanOrEqual(outage.upStart - outage.downDone - RECEIVE_LAG_MS);
  });

  it('delivers the bulk stream whole and in pattern', () => {
    expect(client.bulk).toMatchObject({ errors: [], closed: false, patternOk: true });
    expect(client.bulk.bytesSent).toBeGreaterThan(100_000);
    expect(server.bulk).toMatchObject({ errors: [], connections: 1, patternOk: true });
    expect(server.bulk.bytesReceived).toBe(client.bulk.bytesSent);
  });

  it('finds one outage of about the injected length in each direction', () => {
    const c = analysis.cutovers[0];
    const surelyDown = outage.upStart - outage.downDone;
    // Slack for the next probe's timer, ARP after link-up, and a busy two-core machine.
    const atMost = outage.upDone - outage.downStart + INTERVAL_MS + 250;
    for (const [dir, received] of [
      ['podToVm', server.udp.received],
      ['vmToPod', client.udp.received],
    ] as const) {
      const o = c?.[dir];
      expect(o?.recovered).toBe(true);
      expect(o?.downtimeMs).toBeGreaterThanOrEqual(surelyDown - RECEIVE_LAG_MS);
      expect(o?.downtimeMs).toBeLessThanOrEqual(atMost);
      // The client's own link went down: its probes were lost. The server's probes toward it may
      // instead wait in the downed link's queue and arrive late (a gap with little or no loss).
      if (dir === 'podToVm')
        expect(o?.lost).toBeGreaterThanOrEqual(Math.floor((0.5 * surelyDown) / INTERVAL_MS));
      // Nothing else in the whole run lost a probe. (Gaps without loss do happen on a busy machine:
      // the sender was not scheduled; senderGapMs shows that.)
      const outages = receiveGaps(received, 2 * INTERVAL_MS).filter(
        (g) =>
          g.lost > 0 ||
          (g.gapMs >= surelyDown / 2 && g.toMs >= outage.downStart && g.fromMs <= outage.upDone),
      );
      expect(outages).toHaveLength(1);
      expect(outages[0]?.fromMs).toBe(o?.gapStartMs);
    }
  });

  it('reports the offset where a stream breaks the pattern, in either role', async () => {
    const srv = startProbe(nsServer, ['server', '--listen-port', '7300']);
    probes.push(srv);
    await srv.ready;
    const sender = startNode(nsClient, 'corrupt sender', ['-e', CORRUPT_SENDER, SERVER_IP]);
    probes.push(sender);
    // Ready once both connections closed: the server has read their last bytes by then.
    await sender.ready;
    sender.child.stdin.end();
    const got = await stopProbe(srv);
    expect(got.tcp).toMatchObject({ bytesVerified: 30, mismatchAt: 30, errors: [] });
    expect(got.bulk).toMatchObject({ bytesReceived: 200, patternOk: false, mismatchAt: 150, errors: [] });

    const echo = startNode(nsServer, 'corrupt echo', ['-e', CORRUPT_ECHO]);
    probes.push(echo);
    await echo.ready;
    const cli = startProbe(nsClient, [
      'client',
      '--target',
      SERVER_IP,
      '--port',
      '7200',
      '--bulk-rate-kbps',
      '0',
    ]);
    probes.push(cli);
    await cli.ready;
    // Two 64-byte chunks reach offset 100; the first goes out at once.
    await sleep(300);
    const seen = await stopProbe(cli);
    echo.child.stdin.end();
    expect(seen.tcp.bytesSent).toBeGreaterThan(100);
    expect(seen.tcp).toMatchObject({ bytesVerified: 100, mismatchAt: 100, errors: [], closed: false });
  });
});
