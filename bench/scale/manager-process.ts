// capk-podnet's manager as its own OS process, through the product's CLI and flags, compiled with
// tsc (not tsx) so that its memory is the product's: the bench's KubeVirt simulator and watches
// then neither share its event loop nor count in its RSS. The VirtualMachine webhook is served by
// that process on a TLS port and registered with the API server as the in-process test manager's is.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { VM_MUTATE_PATH } from '../../src/webhook/index.js';
import { registerVmWebhook, unregisterVmWebhook } from '../../test/env/webhook.js';
import { freePort, waitFor } from '../../test/env/processes.js';
import { makeServingCert } from '../../test/env/tls.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface ManagerProcessOptions {
  kc: k8s.KubeConfig;
  kubeconfigPath: string;
  namespace: string;
  nbRemote: string;
  /** Extra CAPK_PODNET_* settings, as flags (`concurrency: '16'` → `--concurrency=16`). */
  flags?: Record<string, string>;
  /** Write a V8 CPU profile of the manager into this folder when it exits. */
  cpuProfileDir?: string;
}

export interface ManagerProcess {
  pid: number;
  logFile: string;
  /** The manager's /metrics, parsed: `name{labels}` → value. */
  metrics(): Promise<Map<string, number>>;
  /** VmHWM and VmRSS of the process, MB. */
  memory(): { peakMb: number; rssMb: number };
  stop(): Promise<void>;
}

/** Compiles src/ into a temp folder that resolves the repo's node_modules. */
export function buildManager(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capk-podnet-scale-build-'));
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(dir, 'dist'),
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { stdio: 'inherit' },
  );
  // ESM needs "type": "module" above the .js files, and bare imports need node_modules.
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'dist', 'cli.js');
}

export async function startManagerProcess(cli: string, o: ManagerProcessOptions): Promise<ManagerProcess> {
  const cert = makeServingCert();
  const [webhookPort, probePort] = [await freePort(), await freePort()];
  const flags: Record<string, string> = {
    kubeconfig: o.kubeconfigPath,
    namespaces: o.namespace,
    'network-driver': 'ovn',
    'ovn-nb-address': o.nbRemote,
    'webhook-bind-address': `127.0.0.1:${webhookPort}`,
    'webhook-cert-dir': cert.dir,
    'metrics-bind-address': `127.0.0.1:${probePort}`,
    'health-probe-bind-address': `127.0.0.1:${probePort}`,
    'leader-election-namespace': o.namespace,
    'infra-dns-servers': '10.96.0.10',
    'pod-network-mtu': '1400',
    'log-format': 'text',
    ...o.flags,
  };
  const logDir = mkdtempSync(join(tmpdir(), 'capk-podnet-scale-manager-'));
  const logFile = join(logDir, 'manager.log');
  const log = createWriteStream(logFile);
  const nodeArgs = o.cpuProfileDir
    ? ['--cpu-prof', `--cpu-prof-dir=${(mkdirSync(o.cpuProfileDir, { recursive: true }), o.cpuProfileDir)}`]
    : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, cli, ...Object.entries(flags).map(([k, v]) => `--${k}=${v}`)],
    // A session of its own: with autogroup scheduling a scheduling group of its own too, as a pod's
    // cgroup is in a cluster, rather than a share of the bench process' group.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  let dead = false;
  void exited.then(() => (dead = true));
  // Out of this process group, so a Ctrl-C does not reach it: it goes with the bench however that ends.
  process.once('exit', () => dead || child.kill('SIGKILL'));

  const base = `http://127.0.0.1:${probePort}`;
  await Promise.race([
    waitFor(
      'manager ready',
      async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.ok ? true : undefined),
      60_000,
      200,
    ),
    exited.then((code) => {
      throw new Error(`manager exited with ${code}; see ${logFile}`);
    }),
  ]);
  const name = `capk-podnet-bench-${o.namespace}`;
  await registerVmWebhook(o.kc, {
    name,
    url: `https://127.0.0.1:${webhookPort}${VM_MUTATE_PATH}`,
    caPem: cert.caPem,
    namespace: o.namespace,
  });

  const status = () => readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = (s: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return {
    pid: child.pid!,
    logFile,
    async metrics() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        out.set(line.slice(0, i), Number(line.slice(i + 1)));
      }
      return out;
    },
    memory() {
      const s = status();
      return { peakMb: kb(s, 'VmHWM') / 1024, rssMb: kb(s, 'VmRSS') / 1024 };
    },
    async stop() {
      await unregisterVmWebhook(o.kc, name);
      if (!dead) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
      cert.cleanup();
    },
  };
}

/** Sum of a metric's samples whose labels include all of `match` (e.g. {method: 'PATCH'}). */
export function sumMetric(m: Map<string, number>, name: string, match: (labels: string) => boolean): number {
  let n = 0;
  for (const [k, v] of m) {
    const brace = k.indexOf('{');
    const metric = brace < 0 ? k : k.slice(0, brace);
    if (metric === name && match(brace < 0 ? '' : k.slice(brace))) n += v;
  }
  return n;
}

/** `after` minus `before`, series by series: what a phase of a run added to the manager's metrics. */
export function metricsBetween(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  return new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}

/**
 * Where the cutover lane's syncs spent their time (capk_podnet_ovn_sync_duration_seconds): behind
 * the machine's earlier driver calls ('wait'), compose + diff ('diff'), the NB transaction with the
 * lane's wait and the cache ('commit'). Per stage: count, mean, and the shares within 5 to 100 ms.
 */
export function cutoverLaneStages(m: Map<string, number>) {
  const name = 'capk_podnet_ovn_sync_duration_seconds';
  const round = (x: number, d: number) => Number(x.toFixed(d));
  const stage = (s: string) => {
    const of = (l: string) => l.includes(`stage="${s}"`) && l.includes('lane="cutover"');
    const count = sumMetric(m, `${name}_count`, of);
    const within = (le: string) =>
      count ? round(sumMetric(m, `${name}_bucket`, (l) => of(l) && l.includes(`le="${le}"`)) / count, 2) : 0;
    return {
      count,
      meanMs: count ? round((1000 * sumMetric(m, `${name}_sum`, of)) / count, 1) : 0,
      within5ms: within('0.005'),
      within10ms: within('0.01'),
      within20ms: within('0.02'),
      within50ms: within('0.05'),
      within100ms: within('0.1'),
    };
  };
  return { wait: stage('wait'), diff: stage('diff'), commit: stage('commit') };
}
