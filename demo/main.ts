// `npm run demo`: the main job. Brings up a local control plane (real kube-apiserver + etcd) and a
// real OVN central, installs the project's CRDs, shows both are live, and prints how to reach them.
// It grows with each capability (tenant cluster from the templates, live migration, report).
//   npm run demo            run the scenario, print the report, tear everything down
//   npm run demo -- --keep  leave the control plane and OVN running until Ctrl-C
import * as k8s from '@kubernetes/client-node';
import { KubeControlPlane } from '../test/env/kube-control-plane.js';
import { OvnCentral } from '../test/env/ovn-central.js';
import { installCrdFiles, projectCrdFiles } from '../test/env/crds.js';

const keep = process.argv.includes('--keep');

function log(msg: string): void {
  console.log(`[demo ${new Date().toISOString().slice(11, 23)}] ${msg}`);
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => log(`cleanup: ${String(e)}`));
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));

  try {
    let t = Date.now();
    log('starting etcd + kube-apiserver (first run builds them from the Go module proxy)');
    const cp = await KubeControlPlane.start();
    cleanups.push(() => cp.stop());
    log(`kube-apiserver ready at ${cp.server} in ${Date.now() - t} ms`);

    t = Date.now();
    const crdFiles = projectCrdFiles();
    await installCrdFiles(cp.kubeconfigPath, crdFiles);
    log(`installed CRDs from ${crdFiles.length} files in ${Date.now() - t} ms`);

    t = Date.now();
    const ovn = await OvnCentral.start();
    cleanups.push(() => ovn.stop());
    log(`OVN central (NB, SB, northd) ready in ${Date.now() - t} ms`);

    const kc = new k8s.KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    const crds = await kc.makeApiClient(k8s.ApiextensionsV1Api).listCustomResourceDefinition();
    const nbVersion = (await ovn.nbctl('get', 'NB_Global', '.', 'external_ids')).trim();
    const northd = (await ovn.sbctl('--bare', '--columns=nb_cfg', 'list', 'SB_Global')).trim();

    console.log(
      [
        '',
        'capk-podnet demo environment',
        `  Kubernetes ${version.gitVersion}: ${cp.server}`,
        `    kubectl --kubeconfig ${cp.kubeconfigPath} get crds   (${crds.items.length} CRDs installed)`,
        `  OVN northbound: ${ovn.nbRemote}`,
        `    ovn-nbctl --db=${ovn.nbRemote} show   (NB_Global external_ids ${nbVersion || '{}'})`,
        `  OVN southbound: ${ovn.sbRemote}   (northd in sync, nb_cfg ${northd})`,
        `    ovn-sbctl --db=${ovn.sbRemote} show`,
        '',
      ].join('\n'),
    );
  } catch (e) {
    await cleanup();
    throw e;
  }
  if (keep) {
    log('running until Ctrl-C (--keep)');
    setInterval(() => undefined, 1 << 30); // the daemons are detached; this keeps the signal handlers alive
    return;
  }
  await cleanup();
  log('stopped');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
