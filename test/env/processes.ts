// Small process helpers shared by the test environments (API server, OVN, datapath).
// Every daemon is started detached in its own process group and stopped by pid, so a
// failed test run never leaves a listener behind.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { waitFor as poll } from '../../src/api/wait.js';

export const execFileAsync = promisify(execFile);

/** A loopback TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
}

/**
 * The niceness Debian's init scripts give the datapath's daemons: ovs-ctl starts ovsdb-server and
 * ovs-vswitchd, ovn-ctl starts ovn-northd and ovn-controller, at -10 (their `--*-priority`; OVN's
 * NB/SB ovsdb-servers get none).
 */
export const PACKAGED_NICE = -10;

/**
 * Starts a long-running process with its output in logFile; it survives the parent's event loop.
 * Each daemon leads a session of its own, so on a kernel with autogroup scheduling it is also a
 * scheduling group of its own, weighed against the others as a service or a pod's cgroup would be.
 * `nice` (root only; ignored elsewhere) lowers both the process' niceness and its group's: with
 * autogroup, a process' own niceness only counts against its group's other members.
 */
export function startDaemon(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  opts: { nice?: number } = {},
): Daemon {
  const nice = process.getuid?.() === 0 ? opts.nice : undefined;
  const argv = nice === undefined ? [command, ...args] : ['nice', '-n', String(nice), command, ...args];
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`${name}: failed to start ${command}`);
  if (nice !== undefined) setGroupNice(child.pid, nice);
  return { name, pid: child.pid, logFile, child };
}

/**
 * Sets the niceness of the autogroup `pid` leads (a process that called setsid; spawn's `detached`
 * does before it returns). Without autogroup, or outside the root cgroup where it does not apply,
 * this changes nothing and the process' own niceness decides.
 */
export function setGroupNice(pid: number, nice: number): void {
  if (!autogroupEnabled()) return;
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch {
    // the process is gone: nothing to favour
  }
}

/** Whether this kernel schedules by autogroup (one group per session). */
export function autogroupEnabled(): boolean {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/**
 * /proc/<pid>/stat as numbers by their field number in proc(5), counted from 1 (14 utime, 15 stime,
 * 19 nice). The command (field 2) may hold spaces and parentheses: fields are read after its last ')'.
 */
export function procStat(pid: number): (field: number) => number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fromState = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (field) => Number(fromState[field - 3]);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopPid(pid: number, graceMs = 5_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  if (isAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    while (isAlive(pid)) await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a value (errors count as "not yet"); the product's own poller, faster. */
export function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  return poll(what, fn, timeoutMs, intervalMs);
}

/** Runs a command; throws with its stderr. `input` goes to stdin (for `ip -batch -`). */
export async function run(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  if (opts.input === undefined) {
    try {
      const { stdout } = await execFileAsync(cmd, args, {
        env: opts.env ?? process.env,
        maxBuffer: 64 << 20,
      });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
    }
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`)),
    );
    child.stdin.end(opts.input);
  });
}
