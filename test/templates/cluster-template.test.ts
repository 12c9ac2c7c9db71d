// The cluster template renders like clusterctl renders it, and every object in it whose kind this
// API server serves (capk's with the network fields, Cluster API's Cluster) is accepted as is.
import { join } from 'node:path';
import { KubevirtClusters } from '../../src/capk/resources.js';
import { RestClient, type KubeObject } from '../../src/runtime/index.js';
import {
  renderTemplate,
  renderTemplateFile,
  templateVariables,
  TEMPLATE_KINDS_SERVED,
} from '../env/cluster-template.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { readFileSync } from 'node:fs';

const TEMPLATE = join(import.meta.dirname, '..', '..', 'templates', 'cluster-template.yaml');
const kc = testKubeConfig();


describe('templates/cluster-template.yaml', () => {
  it('asks for capk’s variables and names a missing one', () => {
    const text = readFileSync(TEMPLATE, 'utf8');
    expect(templateVariables(text)).toEqual(
      expect.arrayContaining([
        'CLUSTER_NAME',
        'NAMESPACE',
        'KUBERNETES_VERSION',
        'NODE_VM_IMAGE_TEMPLATE',
        'CRI_PATH',
        'NODE_IP_CIDR',
      ]),
    );
    expect(() => renderTemplate(text, { CLUSTER_NAME: 'x' })).toThrow(/NAMESPACE/);
  });

  it('is accepted by the API server with its network fields intact', async () => {
    const ns = await createTestNamespace(kc, 'template');
    const objects = renderTemplateFile(TEMPLATE, {
      CLUSTER_NAME: 'demo',
      NAMESPACE: ns,
      KUBERNETES_VERSION: 'v1.34.4',
      CONTROL_PLANE_MACHINE_COUNT: '1',
      WORKER_MACHINE_COUNT: '2',
      NODE_VM_IMAGE_TEMPLATE: 'quay.io/capk/ubuntu-2404-container-disk:v1.34.4',
      CRI_PATH: '/var/run/containerd/containerd.sock',
    });
    const client = new RestClient(kc);
    const applied: string[] = [];
    for (const o of objects) {
      const ref = TEMPLATE_KINDS_SERVED[o.kind!];
      if (!ref) continue; // bootstrap/control-plane providers are not installed here
      await client.create(ref, o);
      applied.push(o.kind!);
    }
    expect(applied.sort()).toEqual([
      'Cluster',
      'KubevirtCluster',
      'KubevirtMachineTemplate',
      'KubevirtMachineTemplate',
    ]);
    const kvc = await client.get<KubeObject & { spec: { network: Record<string, unknown> } }>(
      KubevirtClusters,
      'demo',
      ns,
    );
    expect(kvc.spec.network).toMatchObject({
      ipam: { cidrs: ['10.100.0.0/24'] },
      gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
      mtu: 1400,
      isolation: { mode: 'Strict' },
    });
    client.close();
  });
});
