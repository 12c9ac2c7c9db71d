// What a test needs to talk to the shared test control plane.
import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';

export function testKubeConfig(): k8s.KubeConfig {
  const path = process.env.CAPK_PODNET_TEST_KUBECONFIG;
  if (!path) throw new Error('CAPK_PODNET_TEST_KUBECONFIG is not set: run tests through jest (global setup)');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A fresh namespace per suite; the API server has no namespace controller, so it is left to the run's end. */
export async function createTestNamespace(kc: k8s.KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}
