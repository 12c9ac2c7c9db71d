// Runs test/datapath/apps/probe.mjs inside a namespace and collects its report: the one way the
// tests, the demo and bench/migration start and stop probes.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ProbeReport } from '../../bench/migration/analysis.js';
import { setGroupNice, stopPid } from '../env/processes.js';

/** The probes' niceness when they run `realtime` (measurements on a busy machine). */
const PROBE_NICE = -15;

export const PROBE_APP = join(dirname(fileURLToPath(import.meta.url)), 'apps', 'probe.mjs');

export interface Probe {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** The `ready` line's JSON, once listening (server) or connected (client). */
  ready: Promise<unknown>;
  exited: Promise<number | null>;
  stdout: string[];
  stderr: string[];
}

/** Node running `nodeArgs` in a namespace, ready when it prints `ready <json>` (the probe, or a stand-in peer). */
export function startNodeIn(
  netns: string,
  name: string,
  nodeArgs: string[],
  readyTimeoutMs = 10_000,
  realtime = false,
): Probe {
  // Favoured by the scheduler: a receipt is stamped closer to when the packet arrives, not when a
  // busy machine next runs the probe (on two shared cores up to tens of ms, read as downtime). Not
  // SCHED_FIFO: a real-time node starved the machine. nice execs, like ip. In a session of its own,
  // as a pod or a VM on another machine would be: with autogroup scheduling its niceness is then
  // weighed against the other daemons, not against the processes that share this one's session.
  const rt = realtime ? ['nice', '-n', String(PROBE_NICE)] : [];
  const child = spawn('ip', ['netns', 'exec', netns, ...rt, process.execPath, ...nodeArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: realtime,
  });
  if (child.pid === undefined) throw new Error(`${name}: failed to start`);
  if (realtime) setGroupNice(child.pid, PROBE_NICE);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => stderr.push(l));
  // 'close', not 'exit': a long run's report is megabytes, still in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ready = new Promise<unknown>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready in ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout.push(line);
      if (line.startsWith('ready ') || line.startsWith('failed ')) {
        clearTimeout(timer);
        if (line.startsWith('ready ')) resolve(JSON.parse(line.slice(6)));
        else reject(new Error(`${name}: ${line}`));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before ready: ${stderr.join('\n')}`));
    });
  });
  // Unobserved until awaited; a probe stopped before it was ready must not crash the process.
  ready.catch(() => undefined);
  // `ip netns exec` execs the command, so this pid is the probe itself.
  return { child, pid: child.pid, ready, exited, stdout, stderr };
}

/** Starts the probe (`server …` or `client …`) in a network namespace. */
export function startProbe(netns: string, args: string[], readyTimeoutMs = 10_000, realtime = false): Probe {
  return startNodeIn(netns, `probe ${args[0]}`, [PROBE_APP, ...args], readyTimeoutMs, realtime);
}

/** The `stop` line, then the one JSON report the probe prints before it exits 0. */
export async function stopProbe(p: Probe): Promise<ProbeReport> {
  p.child.stdin.end('stop\n');
  const code = await p.exited;
  const line = p.stdout.filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || !line) throw new Error(`probe exited ${code} without a report: ${p.stderr.join('\n')}`);
  return JSON.parse(line) as ProbeReport;
}

/**
 * The probe server in a VM's guest and its client in a pod, both ready. Each is pushed to `started`
 * as soon as it runs, so that the caller's cleanup can kill it whatever fails later.
 */
export async function startProbePair(opts: {
  serverNetns: string;
  clientNetns: string;
  target: string;
  intervalMs: number;
  bulkRateKbps?: number;
  started: Probe[];
  /** Run both probes at high priority (nice -15): for measurements on a busy machine. */
  realtime?: boolean;
}): Promise<{ server: Probe; client: Probe }> {
  const interval = ['--interval-ms', String(opts.intervalMs)];
  const rt = opts.realtime ?? false;
  const server = startProbe(opts.serverNetns, ['server', ...interval], 10_000, rt);
  opts.started.push(server);
  await server.ready;
  const bulk = opts.bulkRateKbps !== undefined ? ['--bulk-rate-kbps', String(opts.bulkRateKbps)] : [];
  const client = startProbe(
    opts.clientNetns,
    ['client', '--target', opts.target, ...interval, ...bulk],
    10_000,
    rt,
  );
  opts.started.push(client);
  await client.ready;
  return { server, client };
}

/** Kills a probe that is no longer wanted (cleanup after a failure). */
export async function killProbe(p: Probe): Promise<void> {
  await stopPid(p.pid, 1_000);
}
