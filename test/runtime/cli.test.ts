// The capk-podnet process: flags validated, probes and metrics served, SIGTERM exits 0.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../env/processes.js';
import { eventually } from './toy.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.ts');

function run(args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    env: { ...process.env, CAPK_PODNET_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  proc.stdout.on('data', (d: Buffer) => out.push(d.toString()));
  proc.stderr.on('data', (d: Buffer) => out.push(d.toString()));
  const exit = new Promise<number | null>((r) => proc.on('exit', (c) => r(c)));
  return { proc, out, exit };
}

test('invalid flags exit 2 with the reason', async () => {
  const r = run(['--concurrency', 'many']);
  expect(await r.exit).toBe(2);
  expect(r.out.join('')).toContain('--concurrency (CAPK_PODNET_CONCURRENCY)');
});

test('serves /healthz, /readyz and /metrics, logs JSON, and drains on SIGTERM', async () => {
  const [health, metrics] = [await freePort(), await freePort()];
  const r = run([
    '--kubeconfig',
    process.env.CAPK_PODNET_TEST_KUBECONFIG!,
    '--leader-elect=false',
    '--health-probe-bind-address',
    `127.0.0.1:${health}`,
    '--metrics-bind-address',
    `127.0.0.1:${metrics}`,
    '--webhook-bind-address',
    '0',
  ]);
  try {
    await eventually(
      'ready',
      async () => {
        const res = await fetch(`http://127.0.0.1:${health}/readyz`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      30_000,
    );
    expect((await fetch(`http://127.0.0.1:${health}/healthz`)).status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    expect(text).toContain('process_resident_memory_bytes');

    expect((await fetch(`http://127.0.0.1:${health}/metrics`)).status).toBe(404);
    r.proc.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    const lines = r.out.join('').split('\n').filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as { message: string; level: string; controller?: string });
    // The project's controllers are registered and ran their workers.
    expect(parsed.filter((l) => l.message === 'starting workers').map((l) => l.controller)).toEqual(
      expect.arrayContaining(['machine-network', 'ipam-in-cluster-pool']),
    );
    expect(parsed.map((l) => l.message)).toEqual(
      expect.arrayContaining(['starting', 'shutting down', 'stopped']),
    );
  } finally {
    if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
  }
});
