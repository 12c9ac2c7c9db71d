#!/usr/bin/env node
// Connectivity probe for the live-migration datapath tests and bench/migration.
//
//   node probe.mjs server [--listen-port 7000] [--interval-ms 5] [--bind 0.0.0.0] [--ignore-stdin]
//   node probe.mjs client --target IP [--port 7000] [--interval-ms 5] [--bulk-rate-kbps 2000]
//                         [--chunk-bytes 64] [--drain-ms 1000] [--ignore-stdin]
//
// Ports: TCP echo on P, TCP bulk sink on P+1, UDP probes on P+2 (P = --listen-port / --port).
// udp.received in the report is [[seq, recvAtMs, sentAtMs], ...] (times: epoch ms).
// Prints `ready <json>` once listening (server) or connected (client); a client whose connection
// fails prints `failed {code, atMs}` instead and waits to be stopped. Then one JSON report on
// SIGTERM/SIGINT, on the line `stop` on stdin, or when stdin closes (unless --ignore-stdin), and
// exits 0. Without --ignore-stdin, stdin must stay open (a pipe): /dev/null stops it at once.
// Bad arguments: usage on stderr, exit 2; a server port already taken: exit 1.
//
// It never reconnects: a migration must keep the same connections alive, so a reconnect would hide
// exactly the failure the tests look for. Errors and closes are recorded instead.
//
// One timer drives everything, and stream bytes are checked against a pattern rather than stored,
// so CPU and memory stay small: this machine has 2 cores shared with a userspace OVS datapath.
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval, setTimeout, clearTimeout } from 'node:timers';

const USAGE = `usage:
  probe.mjs server [--listen-port 7000] [--interval-ms 5] [--bind 0.0.0.0] [--ignore-stdin]
  probe.mjs client --target IP [--port 7000] [--interval-ms 5] [--bulk-rate-kbps 2000]
                   [--chunk-bytes 64] [--drain-ms 1000] [--ignore-stdin]`;

// The wall clock with sub-ms precision: reports from two processes (and the harness's cutover marks)
// are compared on one time axis, so Date-based epoch ms, not a process-local monotonic clock.
const nowMs = () => performance.timeOrigin + performance.now();
const round3 = (x) => Math.round(x * 1000) / 1000;

// Byte i of every stream is i mod 251: a prime, so a shifted, dropped or duplicated segment of any
// power-of-two size never lines up with the pattern again.
const MOD = 251;
const PATTERN = Buffer.alloc(MOD * 256);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % MOD;
const MAX_SLICE = PATTERN.length - MOD;

/** length bytes of the pattern starting at stream offset; at most MAX_SLICE bytes. */
function patternAt(offset, length) {
  const start = offset % MOD;
  return PATTERN.subarray(start, start + length);
}

/** Offset (within data) of the first byte that breaks the pattern at stream offset, or -1. */
function firstMismatch(data, offset) {
  for (let at = 0; at < data.length; at += MAX_SLICE) {
    const piece = data.subarray(at, at + MAX_SLICE);
    if (piece.equals(patternAt(offset + at, piece.length))) continue;
    for (let i = 0; i < piece.length; i++) {
      if (piece[i] !== (offset + at + i) % MOD) return at + i;
    }
  }
  return -1;
}

// UDP probe: magic, seq, send time; padded so it resembles a small real packet.
const MAGIC = 0x43504b50; // "CPKP"
const PROBE_BYTES = 64;

function probePacket(seq) {
  const b = Buffer.alloc(PROBE_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(seq >>> 0, 4);
  b.writeDoubleBE(nowMs(), 8);
  return b;
}

function parseArgs(argv) {
  const [role, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) fail(`unexpected argument ${arg}`);
    const key = arg.slice(2);
    if (key === 'ignore-stdin') {
      opts[key] = true;
      continue;
    }
    const value = rest[++i];
    if (value === undefined) fail(`${arg} needs a value`);
    opts[key] = value;
  }
  const known = {
    server: ['listen-port', 'interval-ms', 'bind', 'ignore-stdin'],
    client: ['target', 'port', 'interval-ms', 'bulk-rate-kbps', 'chunk-bytes', 'drain-ms', 'ignore-stdin'],
  }[role];
  if (!known) fail('role must be server or client');
  for (const key of Object.keys(opts)) if (!known.includes(key)) fail(`unknown option --${key} for ${role}`);
  const num = (key, dflt, min) => {
    const v = opts[key] === undefined ? dflt : Number(opts[key]);
    if (!Number.isFinite(v) || v < min) fail(`--${key} must be a number >= ${min}`);
    return v;
  };
  const port = num(role === 'server' ? 'listen-port' : 'port', 7000, 1);
  if (port + 2 > 65535) fail('port too large (P, P+1 and P+2 are used)');
  const common = { role, port, intervalMs: num('interval-ms', 5, 1), ignoreStdin: !!opts['ignore-stdin'] };
  if (role === 'server') return { ...common, bind: opts.bind ?? '0.0.0.0' };
  if (!opts.target) fail('client needs --target IP');
  return {
    ...common,
    target: opts.target,
    bulkRateKbps: num('bulk-rate-kbps', 2000, 0),
    chunkBytes: Math.min(num('chunk-bytes', 64, 1), MAX_SLICE),
    drainMs: num('drain-ms', 1000, 0),
  };
}

function fail(message) {
  process.stderr.write(`probe: ${message}\n${USAGE}\n`);
  process.exit(2);
}

/** Receive log of UDP probes: flat number arrays instead of one object per probe. */
function udpLog() {
  const seqs = [];
  const times = [];
  // The sender's clock is this host's clock too, so the send time tells a gap the network made
  // from one the sender made by not being scheduled (this machine's 2 cores are often busy).
  const sentTimes = [];
  return {
    sent: 0,
    sendErrors: 0,
    lastSendError: undefined,
    lastSentAtMs: undefined,
    errors: [],
    seqs,
    times,
    sentTimes,
    onMessage(msg) {
      const at = nowMs();
      if (msg.length < 16 || msg.readUInt32BE(0) !== MAGIC) return false;
      seqs.push(msg.readUInt32BE(4));
      times.push(at);
      sentTimes.push(msg.readDoubleBE(8));
      return true;
    },
    send(sock, port, address) {
      this.lastSentAtMs = nowMs();
      const seq = this.sent++;
      sock.send(probePacket(seq), port, address, (err) => {
        // Sends fail while a link is down (ENETUNREACH, EHOSTUNREACH…): that probe is lost, as it
        // would be on the wire, and the seq gap shows it.
        if (err) {
          this.sendErrors++;
          this.lastSendError = err.code ?? err.message;
        }
      });
    },
    report() {
      const received = new Array(seqs.length);
      for (let i = 0; i < seqs.length; i++) received[i] = [seqs[i], round3(times[i]), round3(sentTimes[i])];
      const out = { sent: this.sent, sendErrors: this.sendErrors, received, errors: this.errors };
      if (this.lastSendError) out.lastSendError = this.lastSendError;
      // Where the stream ended, so an analysis does not take the end of the run for an outage.
      if (this.lastSentAtMs !== undefined) out.lastSentAtMs = round3(this.lastSentAtMs);
      return out;
    },
  };
}

/** Checks an incoming byte stream against the pattern from offset 0; stops checking at the first mismatch. */
function streamChecker() {
  return {
    bytes: 0,
    verified: 0,
    mismatchAt: undefined,
    push(data) {
      if (this.mismatchAt === undefined) {
        const bad = firstMismatch(data, this.bytes);
        if (bad < 0) this.verified += data.length;
        else {
          this.verified += bad;
          this.mismatchAt = this.bytes + bad;
        }
      }
      this.bytes += data.length;
    },
  };
}

function errorRecord(err) {
  return { code: err.code ?? err.message ?? String(err), atMs: round3(nowMs()) };
}

/** Wires the stop triggers; stop() runs once and must print the report and exit. */
function onStop(ignoreStdin, stop) {
  let stopping = false;
  const once = () => {
    if (stopping) return;
    stopping = true;
    stop();
  };
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
  if (!ignoreStdin) {
    let buf = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      if (lines.some((l) => l.trim() === 'stop')) once();
    });
    process.stdin.on('end', once);
    process.stdin.on('error', once);
  }
}

function printAndExit(report) {
  process.stdout.write(JSON.stringify(report) + '\n', () => process.exit(0));
}

function server(opts) {
  const startedAtMs = nowMs();
  const udp = udpLog();
  let peer; // { address, port } of the latest client heard from
  let timer;
  let stopped = false;

  const tcp = {
    connections: 0,
    bytesSent: 0,
    checkers: [],
    errors: [],
    closed: false,
    closedAtMs: undefined,
  };
  const bulk = { connections: 0, checkers: [], errors: [], closed: false, closedAtMs: undefined };

  const track = (state, sock) => {
    state.connections++;
    sock.on('error', (err) => {
      if (!stopped) state.errors.push(errorRecord(err));
    });
    sock.on('close', () => {
      if (stopped) return;
      state.closed = true;
      state.closedAtMs = round3(nowMs());
    });
  };

  const echo = createServer((sock) => {
    sock.setNoDelay(true);
    track(tcp, sock);
    const check = streamChecker();
    tcp.checkers.push(check);
    sock.on('data', (data) => {
      check.push(data);
      tcp.bytesSent += data.length;
      sock.write(data);
    });
  });
  const sink = createServer((sock) => {
    track(bulk, sock);
    const check = streamChecker();
    bulk.checkers.push(check);
    sock.on('data', (data) => check.push(data));
  });
  const usock = createSocket('udp4');
  usock.on('error', (err) => (pending > 0 ? startFailed(err) : udp.errors.push(errorRecord(err))));
  usock.on('message', (msg, rinfo) => {
    if (!udp.onMessage(msg)) return;
    peer = { address: rinfo.address, port: rinfo.port };
    // The reverse stream starts with the first probe heard, so both directions are measured
    // from the same moment on and the server needs no target of its own.
    if (!timer) timer = setInterval(() => udp.send(usock, peer.port, peer.address), opts.intervalMs);
  });

  let pending = 3;
  const listening = () => {
    if (--pending > 0) return;
    const ready = {
      role: 'server',
      pid: process.pid,
      tcpPort: opts.port,
      bulkPort: opts.port + 1,
      udpPort: opts.port + 2,
      atMs: round3(nowMs()),
    };
    process.stdout.write(`ready ${JSON.stringify(ready)}\n`);
  };
  const startFailed = (err) => {
    process.stderr.write(`probe server: ${err.message}\n`);
    process.exit(1);
  };
  echo.on('error', startFailed);
  sink.on('error', startFailed);
  echo.listen(opts.port, opts.bind, listening);
  sink.listen(opts.port + 1, opts.bind, listening);
  usock.bind(opts.port + 2, opts.bind, listening);

  onStop(opts.ignoreStdin, () => {
    stopped = true;
    if (timer) clearInterval(timer);
    const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
    const firstBad = (checkers) => checkers.find((c) => c.mismatchAt !== undefined)?.mismatchAt;
    const streamReport = (state) => ({
      connections: state.connections,
      errors: state.errors,
      closed: state.closed,
      ...(state.closedAtMs !== undefined ? { closedAtMs: state.closedAtMs } : {}),
    });
    const tcpMismatch = firstBad(tcp.checkers);
    const bulkMismatch = firstBad(bulk.checkers);
    printAndExit({
      role: 'server',
      intervalMs: opts.intervalMs,
      startedAtMs: round3(startedAtMs),
      stoppedAtMs: round3(nowMs()),
      udp: { ...udp.report(), ...(peer ? { peer: `${peer.address}:${peer.port}` } : {}) },
      tcp: {
        bytesSent: tcp.bytesSent,
        bytesVerified: sum(tcp.checkers, (c) => c.verified),
        ...(tcpMismatch !== undefined ? { mismatchAt: tcpMismatch } : {}),
        ...streamReport(tcp),
      },
      bulk: {
        bytesReceived: sum(bulk.checkers, (c) => c.bytes),
        patternOk: bulkMismatch === undefined,
        ...(bulkMismatch !== undefined ? { mismatchAt: bulkMismatch } : {}),
        ...streamReport(bulk),
      },
    });
  });
}

function client(opts) {
  const startedAtMs = nowMs();
  let readyAtMs;
  const udp = udpLog();
  let stopping = false;
  let timer;

  const tcp = {
    bytesSent: 0,
    check: streamChecker(),
    errors: [],
    closed: false,
    closedAtMs: undefined,
    lastRecvAt: undefined,
    maxRecvGapMs: 0,
    maxRecvGapEndMs: undefined,
    connected: false,
    onVerified: undefined,
  };
  const bulk = {
    enabled: opts.bulkRateKbps > 0,
    bytesSent: 0,
    errors: [],
    closed: false,
    closedAtMs: undefined,
    connected: false,
  };

  const watch = (state, sock) => {
    sock.on('error', (err) => {
      if (!stopping) state.errors.push(errorRecord(err));
    });
    // The peer ending the stream mid-test is as fatal to a migration as a reset.
    sock.on('end', () => {
      if (!stopping) state.errors.push({ code: 'EOF', atMs: round3(nowMs()) });
    });
    sock.on('close', () => {
      state.connected = false;
      if (stopping) return;
      state.closed = true;
      state.closedAtMs = round3(nowMs());
      tcp.onVerified?.();
    });
  };

  const usock = createSocket('udp4');
  usock.on('error', (err) => udp.errors.push(errorRecord(err)));
  usock.on('message', (msg) => udp.onMessage(msg));

  const echo = connect({ host: opts.target, port: opts.port, noDelay: true });
  watch(tcp, echo);
  echo.on('data', (data) => {
    const at = nowMs();
    if (tcp.lastRecvAt !== undefined && at - tcp.lastRecvAt > tcp.maxRecvGapMs) {
      tcp.maxRecvGapMs = at - tcp.lastRecvAt;
      tcp.maxRecvGapEndMs = at;
    }
    tcp.lastRecvAt = at;
    tcp.check.push(data);
    tcp.onVerified?.();
  });

  const sink = bulk.enabled ? connect({ host: opts.target, port: opts.port + 1 }) : undefined;
  if (sink) watch(bulk, sink);

  // Bulk is paced by elapsed time, so timer jitter does not lower the rate; a backlog (after a
  // stall) is capped at two intervals so an outage is not followed by a burst.
  const bytesPerMs = (opts.bulkRateKbps * 1000) / 8 / 1000;
  let bulkCredit = 0;
  let lastTick = nowMs();

  const tick = () => {
    const now = nowMs();
    udp.send(usock, opts.port + 2, opts.target);
    // While the kernel buffer is full the stream waits: queueing in userspace would only grow memory.
    if (tcp.connected && !echo.writableNeedDrain) {
      echo.write(patternAt(tcp.bytesSent, opts.chunkBytes));
      tcp.bytesSent += opts.chunkBytes;
    }
    if (sink && bulk.connected) {
      bulkCredit = Math.min(bulkCredit + (now - lastTick) * bytesPerMs, 2 * opts.intervalMs * bytesPerMs);
      const n = Math.min(Math.floor(bulkCredit), MAX_SLICE);
      if (n > 0 && !sink.writableNeedDrain) {
        sink.write(patternAt(bulk.bytesSent, n));
        bulk.bytesSent += n;
        bulkCredit -= n;
      }
    }
    lastTick = now;
  };

  let pending = 2 + (sink ? 1 : 0);
  const up = () => {
    if (--pending > 0 || stopping) return;
    readyAtMs = nowMs();
    const local = echo.address();
    const ready = {
      role: 'client',
      pid: process.pid,
      target: opts.target,
      localAddress: typeof local === 'object' ? local.address : undefined,
      atMs: round3(readyAtMs),
    };
    process.stdout.write(`ready ${JSON.stringify(ready)}\n`);
    lastTick = nowMs();
    timer = setInterval(tick, opts.intervalMs);
    tick();
  };
  echo.once('connect', () => {
    tcp.connected = true;
    up();
  });
  sink?.once('connect', () => {
    bulk.connected = true;
    up();
  });
  // A failed connect means no `ready`; say so at once so a harness need not wait for its timeout.
  let failed = false;
  const connectFailed = (err) => {
    if (readyAtMs === undefined && !stopping && !failed) {
      failed = true;
      process.stdout.write(`failed ${JSON.stringify(errorRecord(err))}\n`);
    }
  };
  echo.once('error', connectFailed);
  sink?.once('error', connectFailed);
  usock.bind(0, up);

  onStop(opts.ignoreStdin, async () => {
    if (timer) clearInterval(timer);
    // Until the echo caught up, in-flight bytes still count as a failure of the stream: stop sending,
    // then give the echo drainMs to return what was sent, so bytesVerified === bytesSent means intact.
    const caughtUp = () =>
      tcp.closed || tcp.check.mismatchAt !== undefined || tcp.check.bytes >= tcp.bytesSent;
    if (tcp.connected && !caughtUp()) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, opts.drainMs);
        tcp.onVerified = () => {
          if (!caughtUp()) return;
          clearTimeout(t);
          resolve();
        };
      });
    }
    stopping = true;
    // end() hands the buffered bulk bytes to the kernel before FIN, so the sink can count them all.
    const bulkFinished =
      sink && bulk.connected
        ? new Promise((resolve) => {
            const t = setTimeout(resolve, opts.drainMs);
            sink.end(() => {
              clearTimeout(t);
              resolve();
            });
          })
        : Promise.resolve();
    if (tcp.connected) echo.end();
    await bulkFinished;
    const streamState = (state) => ({
      errors: state.errors,
      closed: state.closed,
      ...(state.closedAtMs !== undefined ? { closedAtMs: state.closedAtMs } : {}),
    });
    printAndExit({
      role: 'client',
      target: opts.target,
      intervalMs: opts.intervalMs,
      startedAtMs: round3(startedAtMs),
      ...(readyAtMs !== undefined ? { readyAtMs: round3(readyAtMs) } : {}),
      stoppedAtMs: round3(nowMs()),
      udp: udp.report(),
      tcp: {
        bytesSent: tcp.bytesSent,
        bytesVerified: tcp.check.verified,
        ...(tcp.check.mismatchAt !== undefined ? { mismatchAt: tcp.check.mismatchAt } : {}),
        maxRecvGapMs: round3(tcp.maxRecvGapMs),
        ...(tcp.maxRecvGapEndMs !== undefined ? { maxRecvGapEndMs: round3(tcp.maxRecvGapEndMs) } : {}),
        ...streamState(tcp),
      },
      bulk: { bytesSent: bulk.bytesSent, patternOk: true, ...streamState(bulk) },
    });
  });
}

const opts = parseArgs(process.argv.slice(2));
if (opts.role === 'server') server(opts);
else client(opts);
