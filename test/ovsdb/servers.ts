// ovsdb-server instances for the client's tests: a standalone server (unix, optionally TCP and TLS
// with a throwaway CA) and a RAFT cluster of several members on unix sockets. All on OVN's
// northbound schema so that ovn-nbctl can act as a second, independent writer.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run, startDaemon, stopPid, waitFor, type Daemon } from '../env/processes.js';

export const NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema';

export interface TlsFiles {
  caCert: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
  /** A client certificate from a CA the server does not trust. */
  strangerKey: string;
  strangerCert: string;
}

/** A CA, and server and client certificates it signed, made with openssl. */
export async function makeTestCa(dir: string): Promise<TlsFiles> {
  const f = (n: string) => join(dir, n);
  const subj = (cn: string) => ['-subj', `/CN=${cn}`];
  for (const ca of ['ca', 'otherca']) {
    await run(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'].concat(
        ['-keyout', f(`${ca}.key`), '-out', f(`${ca}.crt`)],
        subj(`${ca} test`),
      ),
    );
  }
  const sign = async (name: string, ca: string) => {
    await run(
      'openssl',
      ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)].concat(
        subj(name),
      ),
    );
    await run(
      'openssl',
      ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.crt`), '-CAkey', f(`${ca}.key`)].concat([
        '-CAcreateserial',
        '-days',
        '2',
        '-out',
        f(`${name}.crt`),
      ]),
    );
  };
  await sign('server', 'ca');
  await sign('client', 'ca');
  await sign('stranger', 'otherca');
  return {
    caCert: f('ca.crt'),
    serverKey: f('server.key'),
    serverCert: f('server.crt'),
    clientKey: f('client.key'),
    clientCert: f('client.crt'),
    strangerKey: f('stranger.key'),
    strangerCert: f('stranger.crt'),
  };
}

function toolEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVN_RUNDIR: dir, OVN_LOGDIR: dir };
}

export interface StandaloneOptions {
  tcp?: boolean;
  tls?: boolean;
  /** Also listen where NB_Global.connections says (ovn-nbctl set-connection), as OVN deployments do. */
  remotesFromDb?: boolean;
  /** Schema file to create the database from; default OVN's NB schema. */
  schema?: string;
}

/** One standalone ovsdb-server with the NB schema. */
export class StandaloneServer {
  private daemon?: Daemon;
  tcpPort?: number;
  sslPort?: number;
  tlsFiles?: TlsFiles;
  remotesFromDb = false;

  private constructor(readonly dir: string) {}

  static async start(opts: StandaloneOptions = {}): Promise<StandaloneServer> {
    const s = new StandaloneServer(mkdtempSync(join(tmpdir(), 'capk-podnet-ovsdb-')));
    try {
      await run('ovsdb-tool', ['create', s.dbFile, opts.schema ?? NB_SCHEMA]);
      if (opts.tcp) s.tcpPort = await freePort();
      s.remotesFromDb = opts.remotesFromDb ?? false;
      if (opts.tls) {
        s.sslPort = await freePort();
        s.tlsFiles = await makeTestCa(s.dir);
      }
      await s.startServer();
      await s.nbctl('--no-wait', 'init');
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  get dbFile(): string {
    return join(this.dir, 'nb.db');
  }
  get socket(): string {
    return join(this.dir, 'nb.sock');
  }
  get remote(): string {
    return `unix:${this.socket}`;
  }
  get pid(): number | undefined {
    return this.daemon?.pid;
  }

  async nbctl(...args: string[]): Promise<string> {
    return run('ovn-nbctl', [`--db=${this.remote}`, ...args], { env: toolEnv(this.dir) });
  }

  /** Converts the live database to another schema (ovsdb-client convert), as an OVN upgrade does. */
  async convert(schemaFile: string): Promise<void> {
    await run('ovsdb-client', ['convert', this.remote, schemaFile]);
  }

  /** Runs a transaction on the database file directly; only while the server is stopped. */
  async offlineTransact(ops: unknown[]): Promise<string> {
    return run('ovsdb-tool', ['transact', this.dbFile, JSON.stringify(['OVN_Northbound', ...ops])]);
  }

  async stopServer(): Promise<void> {
    if (this.daemon) await stopPid(this.daemon.pid);
    this.daemon = undefined;
  }

  async startServer(): Promise<void> {
    const args = [
      '--no-chdir',
      `--pidfile=${join(this.dir, 'nb.pid')}`,
      `--log-file=${join(this.dir, 'nb.log')}`,
      `--unixctl=${join(this.dir, 'nb.ctl')}`,
      `--remote=punix:${this.socket}`,
    ];
    if (this.remotesFromDb) args.push('--remote=db:OVN_Northbound,NB_Global,connections');
    if (this.tcpPort) args.push(`--remote=ptcp:${this.tcpPort}:127.0.0.1`);
    if (this.tlsFiles && this.sslPort) {
      const t = this.tlsFiles;
      args.push(`--private-key=${t.serverKey}`, `--certificate=${t.serverCert}`, `--ca-cert=${t.caCert}`);
      args.push(`--remote=pssl:${this.sslPort}:127.0.0.1`);
    }
    rmSync(this.socket, { force: true });
    this.daemon = startDaemon(
      'ovsdb-server',
      'ovsdb-server',
      [...args, this.dbFile],
      join(this.dir, 'nb.out'),
    );
    await waitFor(
      'ovsdb-server socket',
      async () => (existsSync(this.socket) ? true : undefined),
      10_000,
      10,
    );
  }

  async stop(): Promise<void> {
    await this.stopServer();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface Member {
  db: string;
  raft: string;
  socket: string;
  ctl: string;
  daemon?: Daemon;
}

/** A RAFT cluster of ovsdb-servers with the NB schema, on unix sockets. */
export class RaftCluster {
  private constructor(
    readonly dir: string,
    readonly members: Member[],
  ) {}

  static async start(size = 3): Promise<RaftCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'capk-podnet-raft-'));
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      members.push({
        db: join(dir, `s${i}.db`),
        raft: `unix:${join(dir, `s${i}.raft`)}`,
        socket: join(dir, `nb${i}.sock`),
        ctl: join(dir, `s${i}.ctl`),
      });
    }
    const c = new RaftCluster(dir, members);
    try {
      await run('ovsdb-tool', ['create-cluster', members[0]!.db, NB_SCHEMA, members[0]!.raft]);
      for (const m of members.slice(1)) {
        await run('ovsdb-tool', ['join-cluster', m.db, 'OVN_Northbound', m.raft, members[0]!.raft]);
      }
      for (let i = 0; i < size; i++) await c.startMember(i);
      await waitFor('a RAFT leader', async () => c.leader(), 20_000, 100);
      await c.nbctl('--no-wait', 'init');
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  remote(i: number): string {
    return `unix:${this.members[i]!.socket}`;
  }
  get remotes(): string[] {
    return this.members.map((_, i) => this.remote(i));
  }

  async nbctl(...args: string[]): Promise<string> {
    const live = this.members.map((m, i) => (m.daemon ? this.remote(i) : undefined)).filter(Boolean);
    return run('ovn-nbctl', [`--db=${live.join(',')}`, ...args], { env: toolEnv(this.dir) });
  }

  /** Index of the member that says it is leader, or undefined. */
  async leader(): Promise<number | undefined> {
    for (const [i, m] of this.members.entries()) {
      if (!m.daemon) continue;
      const status = await run('ovs-appctl', ['-t', m.ctl, 'cluster/status', 'OVN_Northbound']).catch(
        () => '',
      );
      if (/^Role: leader$/m.test(status)) return i;
    }
    return undefined;
  }

  /** Makes the leader hand leadership to another member, both staying up; returns the new leader. */
  async transferLeadership(): Promise<number> {
    const old = await waitFor('a leader', async () => this.leader(), 20_000, 50);
    const ctl = this.members[old]!.ctl;
    await run('ovs-appctl', ['-t', ctl, 'cluster/failure-test', 'transfer-leadership']);
    try {
      return await waitFor(
        'leadership to move',
        async () => {
          const now = await this.leader();
          return now !== undefined && now !== old ? now : undefined;
        },
        20_000,
        50,
      );
    } finally {
      await run('ovs-appctl', ['-t', ctl, 'cluster/failure-test', 'clear']);
    }
  }

  async startMember(i: number): Promise<void> {
    const m = this.members[i]!;
    rmSync(m.socket, { force: true });
    m.daemon = startDaemon(
      `ovsdb-server-${i}`,
      'ovsdb-server',
      [
        '--no-chdir',
        `--pidfile=${join(this.dir, `s${i}.pid`)}`,
        `--log-file=${join(this.dir, `s${i}.log`)}`,
        `--unixctl=${m.ctl}`,
        `--remote=punix:${m.socket}`,
        m.db,
      ],
      join(this.dir, `s${i}.out`),
    );
    await waitFor(`member ${i} socket`, async () => (existsSync(m.socket) ? true : undefined), 10_000, 10);
  }

  async stopMember(i: number): Promise<void> {
    const m = this.members[i]!;
    if (m.daemon) await stopPid(m.daemon.pid);
    m.daemon = undefined;
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.stopMember(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
