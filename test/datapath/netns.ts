// Network namespaces and the commands run in them, for the datapath harness. Everything one harness
// creates is recorded under its own temp dir (an `owner` pid file, the namespaces, daemon pid files),
// so that a later run can remove what a killed run left behind: nothing here outlives its owner.
import {
  appendFileSync,
  cpSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isAlive, run, stopPid } from '../env/processes.js';

export const DATAPATH_DIR_PREFIX = 'capk-podnet-dp-';

/** A command run inside a network namespace (`ip netns exec`). */
export function netnsExec(netns: string, cmd: string, ...args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args]);
}

/** The userspace datapath does not complete partial checksums: whoever sends through it computes its own. */
export function txChecksumOff(netns: string, ifname: string): Promise<string> {
  return netnsExec(netns, 'ethtool', '-K', ifname, 'tx', 'off');
}

/** IPv4 only: no IPv6 autoconfiguration noise on the harness's links. */
export function disableIpv6(netns: string): Promise<string> {
  return netnsExec(netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
}

/** `ip -n <ns> -batch -`: several link/addr/route changes in one process, back to back. */
export function ipBatch(ns: string, lines: string[]): Promise<string> {
  return run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

/** A veth pair whose ends are born in their namespaces (never in the host's), with one MTU. */
export async function addVethPair(
  a: { name: string; netns: string; ifindex?: number },
  b: { name: string; netns: string },
  mtu: number,
): Promise<void> {
  const m = String(mtu);
  await run('ip', [
    'link',
    'add',
    a.name,
    ...(a.ifindex === undefined ? [] : ['index', String(a.ifindex)]),
    'netns',
    a.netns,
    'mtu',
    m,
    'type',
    'veth',
    'peer',
    'name',
    b.name,
    'netns',
    b.netns,
    'mtu',
    m,
  ]);
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why packets cannot be sent here, or undefined when they can (root, ip, OVS and OVN installed). */
export function datapathUnavailable(): string | undefined {
  if (!isRoot()) return 'needs root (network namespaces); .ci/run runs these tests as root';
  for (const bin of [
    '/usr/sbin/ovs-vswitchd',
    '/usr/bin/ovn-controller',
    '/usr/bin/busybox',
    '/usr/sbin/ethtool',
  ])
    if (!existsSync(bin)) return `${bin} is missing (bash hack/setup.sh installs it)`;
  return undefined;
}

/** One harness's namespaces and daemons, recorded on disk as they are made. */
export class NetnsLedger {
  constructor(readonly dir: string) {
    writeFileSync(join(dir, 'owner'), String(process.pid));
  }

  async addNetns(name: string): Promise<void> {
    appendFileSync(join(this.dir, 'netns'), `${name}\n`);
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  async deleteNetns(name: string): Promise<void> {
    await run('ip', ['netns', 'delete', name]).catch(() => undefined);
  }

  /** Stops every daemon with a pid file under the dir, deletes every namespace, removes the dir. */
  async teardown(): Promise<void> {
    await teardownDir(this.dir);
  }
}

function pidFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...pidFiles(p));
    else if (e.name.endsWith('.pid')) out.push(p);
  }
  return out;
}

async function teardownDir(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  // For a look at the daemons' logs after a run: CAPK_PODNET_DATAPATH_LOGS=<dir> keeps a copy.
  const keep = process.env.CAPK_PODNET_DATAPATH_LOGS;
  if (keep)
    cpSync(dir, join(keep, basename(dir)), {
      recursive: true,
      filter: (f: string) => !statSync(f).isSocket(),
    });
  const pids = pidFiles(dir)
    .map((f) => Number.parseInt(readFileSync(f, 'utf8').trim(), 10))
    .filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
  await Promise.all(pids.map((p) => stopPid(p, 3_000)));
  const nsFile = join(dir, 'netns');
  const names = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').split('\n').filter(Boolean) : [];
  for (const n of names.reverse()) await run('ip', ['netns', 'delete', n]).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}

/** Removes what harnesses of dead processes left behind (a killed jest worker, a crashed demo). */
export async function sweepStaleDatapaths(): Promise<number> {
  let swept = 0;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DATAPATH_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const ownerFile = join(dir, 'owner');
    const owner = existsSync(ownerFile) ? Number.parseInt(readFileSync(ownerFile, 'utf8'), 10) : NaN;
    // A dir without an owner file is one being created right now, unless it is old.
    if (Number.isNaN(owner) ? Date.now() - statSync(dir).mtimeMs < 60_000 : isAlive(owner)) continue;
    await teardownDir(dir);
    swept++;
  }
  return swept;
}
