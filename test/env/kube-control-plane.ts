// A real Kubernetes control plane for tests, demos and benchmarks: etcd + kube-apiserver built
// from the Go module proxy by hack/kube/build.sh, on free loopback ports, with a generated admin
// token. This is envtest, done here; there is no controller-manager, so no garbage collector,
// namespace finalizer or service-account controller: tests clean up what they create.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startDaemon, stopPid, waitFor, type Daemon } from './processes.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The folder with kube-apiserver and etcd; builds them when the pinned versions are missing. */
export function kubeBinaries(): string {
  if (process.env.CAPK_PODNET_KUBE_BIN) return process.env.CAPK_PODNET_KUBE_BIN;
  const out = execFileSync('bash', [join(repoRoot, 'hack/kube/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = out.trim().split('\n');
  return lines[lines.length - 1]!;
}

export interface KubeControlPlaneOptions {
  /** Parent folder for data, certs and logs; a fresh temp folder by default. */
  dir?: string;
  serviceClusterIPRange?: string;
  /** Extra kube-apiserver flags, e.g. for admission plugins. */
  extraApiServerArgs?: string[];
}

export interface KubeControlPlaneInfo {
  dir: string;
  server: string;
  token: string;
  caFile: string;
  kubeconfigPath: string;
  etcdPid: number;
  apiServerPid: number;
}

export class KubeControlPlane {
  private etcd?: Daemon;
  private apiServer?: Daemon;

  private constructor(
    readonly dir: string,
    readonly bin: string,
    readonly etcdUrl: string,
    readonly apiPort: number,
    readonly token: string,
    private readonly apiArgs: string[],
  ) {}

  static async start(opts: KubeControlPlaneOptions = {}): Promise<KubeControlPlane> {
    const bin = kubeBinaries();
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'capk-podnet-kube-'));
    for (const d of ['etcd', 'certs', 'logs']) mkdirSync(join(dir, d), { recursive: true });

    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const token = randomBytes(24).toString('hex');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(dir, 'certs', 'sa.key');
    const saPub = join(dir, 'certs', 'sa.pub');
    writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const tokenFile = join(dir, 'certs', 'tokens.csv');
    writeFileSync(tokenFile, `${token},admin,admin,"system:masters"\n`);

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=https://kubernetes.default.svc`,
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      `--service-cluster-ip-range=${opts.serviceClusterIPRange ?? '10.96.0.0/16'}`,
      '--allow-privileged=true',
      // No service-account controller runs, so pods could never be admitted with it.
      '--disable-admission-plugins=ServiceAccount',
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      ...(opts.extraApiServerArgs ?? []),
    ];
    const cp = new KubeControlPlane(dir, bin, etcdUrl, apiPort, token, apiArgs);
    cp.etcd = startDaemon(
      'etcd',
      join(bin, 'etcd'),
      [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      join(dir, 'logs', 'etcd.log'),
    );
    try {
      await waitFor('etcd health', () => httpGetOk(`${etcdUrl}/health`), 30_000);
      await cp.startApiServer();
    } catch (e) {
      await cp.stop();
      throw e;
    }
    cp.writeKubeconfig();
    return cp;
  }

  get server(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }
  get caFile(): string {
    return join(this.dir, 'certs', 'apiserver.crt');
  }
  get kubeconfigPath(): string {
    return join(this.dir, 'kubeconfig');
  }

  info(): KubeControlPlaneInfo {
    return {
      dir: this.dir,
      server: this.server,
      token: this.token,
      caFile: this.caFile,
      kubeconfigPath: this.kubeconfigPath,
      etcdPid: this.etcd?.pid ?? 0,
      apiServerPid: this.apiServer?.pid ?? 0,
    };
  }

  /** Starts (or restarts) kube-apiserver against the running etcd, on the same port. */
  async startApiServer(): Promise<void> {
    this.apiServer = startDaemon(
      'kube-apiserver',
      join(this.bin, 'kube-apiserver'),
      this.apiArgs,
      join(this.dir, 'logs', 'kube-apiserver.log'),
    );
    const pid = this.apiServer.pid;
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (!existsSync(`/proc/${pid}`))
          throw new Error(`kube-apiserver exited; see ${this.apiServer?.logFile}`);
        return (await this.readyz()) ? true : undefined;
      },
      90_000,
      100,
    );
  }

  async stopApiServer(): Promise<void> {
    if (this.apiServer) await stopPid(this.apiServer.pid);
    this.apiServer = undefined;
  }

  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    await this.stopApiServer();
    if (this.etcd) await stopPid(this.etcd.pid);
    this.etcd = undefined;
    if (!opts.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private readyz(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request(
        `${this.server}/readyz`,
        { headers: { authorization: `Bearer ${this.token}` }, rejectUnauthorized: false, timeout: 2_000 },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  private writeKubeconfig(): void {
    const ca = readFileSync(this.caFile).toString('base64');
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: this.server, 'certificate-authority-data': ca } }],
      users: [{ name: 'admin', user: { token: this.token } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin' } }],
      'current-context': 'test',
    };
    writeFileSync(this.kubeconfigPath, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });
  }
}

async function httpGetOk(url: string): Promise<true | undefined> {
  const res = await fetch(url).catch(() => undefined);
  return res?.ok ? true : undefined;
}
