// The test run's control plane session: one real control plane for the whole jest run (suites
// isolate by namespace), with the project's CRDs installed. Suites that must restart the API server
// start their own. Loaded by global-setup.mjs / global-teardown.mjs.
import { readdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeControlPlane } from './kube-control-plane.js';
import { installCrdFiles, projectCrdFiles } from './crds.js';
import { isAlive, stopPid } from './processes.js';

declare global {
  var __capkPodnetControlPlane: KubeControlPlane | undefined;
}

export async function startSession(): Promise<void> {
  await sweepStaleControlPlanes();
  const started = Date.now();
  const cp = await KubeControlPlane.start();
  globalThis.__capkPodnetControlPlane = cp;
  writeFileSync(join(cp.dir, 'owner.json'), JSON.stringify({ ownerPid: process.pid, ...cp.info() }));
  // Workers are forked after this, so they inherit these.
  process.env.KUBECONFIG = cp.kubeconfigPath;
  process.env.CAPK_PODNET_TEST_KUBECONFIG = cp.kubeconfigPath;
  const crds = projectCrdFiles();
  if (crds.length) await installCrdFiles(cp.kubeconfigPath, crds);
  console.log(
    `\ntest control plane: ${cp.server} (etcd ${cp.etcdUrl}) up in ${Date.now() - started} ms, ${crds.length} CRD files`,
  );
}

/** A run killed hard leaves its daemons behind; stop those whose owner is gone. */
async function sweepStaleControlPlanes(): Promise<void> {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith('capk-podnet-kube-')) continue;
    const owner = join(tmpdir(), entry, 'owner.json');
    if (!existsSync(owner)) continue;
    const info = JSON.parse(readFileSync(owner, 'utf8')) as {
      ownerPid: number;
      etcdPid: number;
      apiServerPid: number;
    };
    if (isAlive(info.ownerPid)) continue;
    for (const pid of [info.apiServerPid, info.etcdPid]) if (isOurDaemon(pid)) await stopPid(pid);
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

function isOurDaemon(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('capk-podnet-kube-');
  } catch {
    return false;
  }
}

/** Stops the shared control plane, also when tests failed (jest runs teardown either way). */
export async function stopSession(): Promise<void> {
  await globalThis.__capkPodnetControlPlane?.stop();
  globalThis.__capkPodnetControlPlane = undefined;
}
