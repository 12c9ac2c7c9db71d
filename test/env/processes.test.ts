// The scheduling the harness gives its daemons, read back from the kernel. On a kernel with
// autogroup scheduling a process' own niceness only counts against its session's other members, so
// "OVS at -10" and "probes at -15" hold only if the session's group carries the niceness too.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNodeIn, killProbe } from '../datapath/probe-runner.js';
import {
  PACKAGED_NICE,
  autogroupEnabled,
  procStat,
  run,
  startDaemon,
  stopPid,
  waitFor,
} from './processes.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('scheduling test skipped: lowering a niceness needs root');
const describeAsRoot = isRoot ? describe : describe.skip;

const autogroupOn = autogroupEnabled();

const processNice = (pid: number) => procStat(pid)(19);

/** `/autogroup-<id> nice <n>`. */
function autogroup(pid: number): { id: string; nice: number } {
  const [id, , nice] = readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim().split(/\s+/);
  return { id: id!, nice: Number(nice) };
}

describeAsRoot('daemon scheduling', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'capk-podnet-sched-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts a packaged daemon at -10, in a scheduling group of its own that carries it', async () => {
    const favoured = startDaemon('favoured', 'sleep', ['30'], join(dir, 'favoured.log'), {
      nice: PACKAGED_NICE,
    });
    const plain = startDaemon('plain', 'sleep', ['30'], join(dir, 'plain.log'));
    try {
      // `nice` sets the niceness and then execs sleep: read once sleep runs.
      await waitFor(
        'sleep under nice',
        async () => readFileSync(`/proc/${favoured.pid}/comm`, 'utf8').trim() === 'sleep' || undefined,
        5_000,
        10,
      );
      expect(processNice(favoured.pid)).toBe(PACKAGED_NICE);
      expect(processNice(plain.pid)).toBe(0);
      if (!autogroupOn) return;
      expect(autogroup(favoured.pid).nice).toBe(PACKAGED_NICE);
      expect(autogroup(plain.pid).nice).toBe(0);
      const own = autogroup(process.pid).id;
      expect(autogroup(favoured.pid).id).not.toBe(own);
      expect(autogroup(plain.pid).id).not.toBe(own);
    } finally {
      await stopPid(favoured.pid);
      await stopPid(plain.pid);
    }
  });

  it('runs a realtime probe at -15 in a group of its own, not against this process', async () => {
    const netns = `capkpn-sched-${randomBytes(3).toString('hex')}`;
    await run('ip', ['netns', 'add', netns]);
    const idle = ['-e', 'console.log("ready {}"); setTimeout(() => {}, 30_000)'];
    const probe = startNodeIn(netns, 'idle node', idle, 10_000, true);
    try {
      await probe.ready;
      expect(processNice(probe.pid)).toBe(-15);
      if (!autogroupOn) return;
      expect(autogroup(probe.pid).nice).toBe(-15);
      expect(autogroup(probe.pid).id).not.toBe(autogroup(process.pid).id);
    } finally {
      await killProbe(probe);
      await run('ip', ['netns', 'del', netns]).catch(() => undefined);
    }
  });
});
