// A real OVN central for tests: NB and SB ovsdb-server plus ovn-northd from Debian's ovn-central,
// on unix sockets in a temp folder, stopped by pid. Each caller gets its own, so suites never share
// NB state.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PACKAGED_NICE,
  execFileAsync,
  run,
  startDaemon,
  stopPid,
  waitFor,
  type Daemon,
} from './processes.js';

export const OVN_SCHEMA_DIR = '/usr/share/ovn';

export interface OvnCentralOptions {
  dir?: string;
  /** Start ovn-northd (default true); NB-only tests can skip it. */
  northd?: boolean;
}

export class OvnCentral {
  private nbServer?: Daemon;
  private sbServer?: Daemon;
  private northd?: Daemon;

  private constructor(readonly dir: string) {}

  static available(): boolean {
    return existsSync(join(OVN_SCHEMA_DIR, 'ovn-nb.ovsschema')) && existsSync('/usr/sbin/ovsdb-server');
  }

  static async start(opts: OvnCentralOptions = {}): Promise<OvnCentral> {
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'capk-podnet-ovn-'));
    const c = new OvnCentral(dir);
    try {
      await c.startDb('nb');
      await c.startDb('sb');
      await c.nbctl('--no-wait', 'init');
      await c.sbctl('init');
      if (opts.northd !== false) await c.startNorthd();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  get nbSocket(): string {
    return join(this.dir, 'ovnnb_db.sock');
  }
  get sbSocket(): string {
    return join(this.dir, 'ovnsb_db.sock');
  }
  /** OVSDB remote strings, as OVN tools and the project's client take them. */
  get nbRemote(): string {
    return `unix:${this.nbSocket}`;
  }
  get sbRemote(): string {
    return `unix:${this.sbSocket}`;
  }
  get env(): NodeJS.ProcessEnv {
    const d = this.dir;
    return {
      ...process.env,
      OVS_RUNDIR: d,
      OVS_LOGDIR: d,
      OVS_DBDIR: d,
      OVS_SYSCONFDIR: d,
      OVN_RUNDIR: d,
      OVN_LOGDIR: d,
      OVN_DBDIR: d,
      OVN_SYSCONFDIR: d,
    };
  }

  async nbctl(...args: string[]): Promise<string> {
    return this.run('ovn-nbctl', [`--db=${this.nbRemote}`, ...args]);
  }
  /** Several ovn-nbctl commands as one NB transaction (joined by `--`), without waiting for northd. */
  async nbctlTransaction(cmds: string[][]): Promise<void> {
    if (!cmds.length) return;
    await this.nbctl('--no-wait', ...cmds.flatMap((c, i) => (i ? ['--', ...c] : c)));
  }
  async sbctl(...args: string[]): Promise<string> {
    return this.run('ovn-sbctl', [`--db=${this.sbRemote}`, ...args]);
  }
  /** ovn-trace against this SB; returns the trace text. */
  async trace(datapath: string, microflow: string, ...flags: string[]): Promise<string> {
    return this.run('ovn-trace', [`--db=${this.sbRemote}`, ...flags, datapath, microflow]);
  }
  /** Its daemons' pids, for benchmarks that account CPU time per process. */
  pids(): Record<'nb' | 'sb' | 'northd', number | undefined> {
    return { nb: this.nbServer?.pid, sb: this.sbServer?.pid, northd: this.northd?.pid };
  }

  /** Waits until ovn-northd has processed every NB change made so far. */
  async syncSb(): Promise<void> {
    await this.nbctl('--wait=sb', '--timeout=30', 'sync');
  }

  /** Stops and starts the NB ovsdb-server on the same socket, keeping its data. */
  async restartNb(downMs = 0): Promise<void> {
    if (this.nbServer) await stopPid(this.nbServer.pid);
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.startDb('nb');
  }

  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    for (const d of [this.northd, this.sbServer, this.nbServer]) if (d) await stopPid(d.pid);
    this.northd = this.sbServer = this.nbServer = undefined;
    if (!opts.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private run(cmd: string, args: string[]): Promise<string> {
    return run(cmd, args, { env: this.env });
  }

  private async startDb(db: 'nb' | 'sb'): Promise<void> {
    const file = join(this.dir, `ovn${db}_db.db`);
    if (!existsSync(file)) {
      await execFileAsync('ovsdb-tool', ['create', file, join(OVN_SCHEMA_DIR, `ovn-${db}.ovsschema`)]);
    }
    const sock = join(this.dir, `ovn${db}_db.sock`);
    rmSync(sock, { force: true });
    const daemon = startDaemon(
      `ovsdb-server-${db}`,
      'ovsdb-server',
      [
        '--no-chdir',
        `--pidfile=${join(this.dir, `ovn${db}_db.pid`)}`,
        `--log-file=${join(this.dir, `ovn${db}_db.log`)}`,
        `--unixctl=${join(this.dir, `ovn${db}_db.ctl`)}`,
        `--remote=punix:${sock}`,
        file,
      ],
      join(this.dir, `ovn${db}_db.out`),
    );
    if (db === 'nb') this.nbServer = daemon;
    else this.sbServer = daemon;
    await waitFor(`${db} ovsdb-server socket`, async () => (existsSync(sock) ? true : undefined), 10_000, 10);
  }

  private async startNorthd(): Promise<void> {
    this.northd = startDaemon(
      'ovn-northd',
      'ovn-northd',
      [
        '--no-chdir',
        `--pidfile=${join(this.dir, 'northd.pid')}`,
        `--log-file=${join(this.dir, 'northd.log')}`,
        `--unixctl=${join(this.dir, 'northd.ctl')}`,
        `--ovnnb-db=${this.nbRemote}`,
        `--ovnsb-db=${this.sbRemote}`,
      ],
      join(this.dir, 'northd.out'),
      { nice: PACKAGED_NICE },
    );
    await this.syncSb();
  }
}
