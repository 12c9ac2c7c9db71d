// Serves the project's VirtualMachine webhook from a test manager and registers it with the test
// API server, scoped to one namespace (suites run in parallel against one API server).
import type * as k8s from '@kubernetes/client-node';
import { createLogger, type Manager } from '../../src/runtime/index.js';
import {
  machineMacSource,
  virtualMachineMutator,
  VM_MUTATE_PATH,
  WebhookServer,
} from '../../src/webhook/index.js';
import { kubeRequest } from './kube.js';
import { makeServingCert } from './tls.js';

const WEBHOOKS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

export interface VmWebhook {
  port: number;
  stop(): Promise<void>;
}

/** Call before mgr.start(): the mutator's informers are registered with the manager. */
export async function serveVmWebhook(
  kc: k8s.KubeConfig,
  mgr: Manager,
  namespace: string,
): Promise<VmWebhook> {
  const cert = makeServingCert();
  const server = await WebhookServer.listen({
    address: '127.0.0.1:0',
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    handlers: { [VM_MUTATE_PATH]: virtualMachineMutator(machineMacSource(mgr)) },
    logger: createLogger({ level: 'error' }),
  });
  const name = `capk-podnet-test-${namespace}`;
  await registerVmWebhook(kc, {
    name,
    url: `https://127.0.0.1:${server.port}${VM_MUTATE_PATH}`,
    caPem: cert.caPem,
    namespace,
  });
  return {
    port: server.port,
    stop: async () => {
      await unregisterVmWebhook(kc, name);
      await server.close();
      cert.cleanup();
    },
  };
}

/** Registers a VirtualMachine mutating webhook at `url`, scoped to one namespace. */
export async function registerVmWebhook(
  kc: k8s.KubeConfig,
  o: { name: string; url: string; caPem: string; namespace: string },
): Promise<void> {
  await kubeRequest(kc, 'POST', WEBHOOKS, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name },
    webhooks: [
      {
        name: 'virtualmachines.network.capk-podnet.io',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 5,
        clientConfig: { url: o.url, caBundle: Buffer.from(o.caPem).toString('base64') },
        rules: [
          {
            apiGroups: ['kubevirt.io'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['virtualmachines'],
          },
        ],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': o.namespace } },
      },
    ],
  });
}

export async function unregisterVmWebhook(kc: k8s.KubeConfig, name: string): Promise<void> {
  await kubeRequest(kc, 'DELETE', `${WEBHOOKS}/${name}`).catch(() => undefined);
}
