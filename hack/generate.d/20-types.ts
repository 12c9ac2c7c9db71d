// Step 20: api/types/generated/ (the @cluster-api-ts/types package) from the CRDs the project
// reads or writes. Runs after 10-crds, so capk's types carry the network fields.
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWireCrds } from '../crdgen/read.js';
import { upstreamCrdDir, writeTypes, type TypeSource } from '../crdgen/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const sources: TypeSource[] = [
  {
    name: 'capk',
    title: 'capk (sigs.k8s.io/cluster-api-provider-kubevirt) CRDs with capk-podnet network fields, crds/',
    crds: readWireCrds(join(root, 'crds')),
    kinds: ['KubevirtCluster', 'KubevirtClusterTemplate', 'KubevirtMachine', 'KubevirtMachineTemplate'],
  },
  {
    name: 'cluster-api',
    title: 'Cluster API (sigs.k8s.io/cluster-api) CRDs, hack/upstream/capi',
    crds: readWireCrds(upstreamCrdDir(root, 'capi')!),
    kinds: ['Cluster', 'Machine', 'IPAddressClaim', 'IPAddress'],
  },
];
const kubevirt = upstreamCrdDir(root, 'kubevirt');
if (kubevirt) {
  sources.push({
    name: 'kubevirt',
    title: 'KubeVirt (kubevirt.io) CRDs, hack/upstream/kubevirt',
    crds: readWireCrds(kubevirt),
    kinds: ['VirtualMachine', 'VirtualMachineInstance', 'VirtualMachineInstanceMigration'],
  });
} else {
  // Not fatal: the committed kubevirt.d.ts stays as it is until the KubeVirt CRDs are available.
  console.warn('  hack/upstream/kubevirt/crds.sh missing: api/types/generated/kubevirt.d.ts left unchanged');
}
for (const f of await writeTypes(join(root, 'api', 'types', 'generated'), sources))
  console.log(`  ${relative(root, f)}`);
