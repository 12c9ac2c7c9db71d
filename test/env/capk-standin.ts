// Stands in for capk's KubevirtMachine controller where it touches the VM: capk creates a
// VirtualMachine named after each KubevirtMachine from its virtualMachineTemplate, with capk's labels,
// retrying when admission refuses; and deletes it when the machine goes. It runs as capk v0.11 does:
// 10 workers (`--concurrency`), every KubevirtMachine event (status included) reconciles at once,
// and a failed reconcile retries with controller-runtime's per-key backoff (5 ms, doubling).
// With `controlPlaneService`, also capk's KubevirtCluster controller's load balancer: the Service
// `<cluster>-lb` selecting control-plane launcher pods (pkg/loadbalancer), and controlPlaneEndpoint
// set to its cluster IP unless the user set one. capk's bootstrap checks and providerID are not
// modelled. Built on the project's own runtime.
import {
  KubevirtClusters,
  KubevirtMachines,
  type KubevirtCluster,
  type KubevirtMachine,
} from '../../src/capk/resources.js';
import { Services, type Service } from '../../src/controllers/cluster-network/index.js';
import { VirtualMachines, type VirtualMachine } from '../../src/kubevirt/resources.js';
import { CapkMachineLabels } from '../../src/webhook/index.js';
import { Controller, ClusterNameLabel, Manager, type KubeObject } from '../../src/runtime/index.js';
import type * as k8s from '@kubernetes/client-node';

export interface CapkStandIn {
  /** Admission refusals seen so far (the webhook asks capk to retry). */
  refusals: number;
  stop(): Promise<void>;
}

export async function startCapkStandIn(
  kc: k8s.KubeConfig,
  namespace: string,
  opts: { controlPlaneService?: boolean } = {},
): Promise<CapkStandIn> {
  const mgr = new Manager({ kubeConfig: kc, namespaces: [namespace] });
  if (opts.controlPlaneService) addLoadBalancer(mgr);
  const machines = mgr.informer<KubevirtMachine>(KubevirtMachines);
  const vms = mgr.informer<VirtualMachine>(VirtualMachines);
  const state: CapkStandIn = { refusals: 0, stop: () => mgr.stop() };
  mgr.add(
    new Controller({
      name: 'capk-standin',
      for: KubevirtMachines,
      watches: [
        { source: VirtualMachines, map: (o) => [{ namespace: o.metadata.namespace, name: o.metadata.name }] },
      ],
      concurrency: 10,
      // controller-runtime caps at 1000 s; 10 s here, so that a test never waits minutes on a
      // wake-up it missed. The wake-up that matters is the machine's status write when its
      // address is bound (IPAMReady), an event like any other.
      backoff: { baseMs: 5, maxMs: 10_000 },
      reconcile: async (req) => {
        const m = machines.get(req);
        const vm = vms.get(req);
        if (!m || m.metadata.deletionTimestamp) {
          if (vm && !vm.metadata.deletionTimestamp)
            await mgr.client.delete(VirtualMachines, req.name, req.namespace);
          return;
        }
        if (vm) return;
        try {
          await mgr.client.create<VirtualMachine>(VirtualMachines, vmFor(m));
        } catch (e) {
          state.refusals++;
          throw e; // capk's reconcile returns the error and is retried with backoff
        }
      },
    }),
  );
  await mgr.start();
  return state;
}

interface CapkCluster extends KubevirtCluster {
  spec?: {
    controlPlaneEndpoint?: { host?: string; port?: number };
    controlPlaneServiceTemplate?: { metadata?: KubeObject['metadata']; spec?: { type?: string } };
    [k: string]: unknown;
  };
}

/** capk v0.11's load balancer for a KubevirtCluster, as its controller makes it. */
function addLoadBalancer(mgr: Manager): void {
  const clusters = mgr.informer<CapkCluster>(KubevirtClusters);
  mgr.add(
    new Controller({
      name: 'capk-standin-lb',
      for: KubevirtClusters,
      backoff: { baseMs: 5, maxMs: 10_000 },
      reconcile: async (req) => {
        const c = clusters.get(req);
        if (!c || c.metadata.deletionTimestamp) return;
        const capiCluster = c.metadata.labels?.[ClusterNameLabel] ?? c.metadata.name;
        const name = `${capiCluster}-lb`;
        const template = c.spec?.controlPlaneServiceTemplate;
        const svc =
          (await mgr.client.tryGet<Service>(Services, name, req.namespace)) ??
          (await mgr.client.create<Service>(Services, {
            metadata: {
              name,
              namespace: req.namespace,
              labels: { ...(template?.metadata?.labels ?? {}), [ClusterNameLabel]: capiCluster },
              ...(template?.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
            },
            spec: {
              type: template?.spec?.type ?? 'ClusterIP',
              ports: [{ port: 6443, protocol: 'TCP', targetPort: 6443 }],
              selector: { 'cluster.x-k8s.io/role': 'control-plane', [ClusterNameLabel]: capiCluster },
            },
          }));
        if (!c.spec?.controlPlaneEndpoint?.host && svc.spec?.clusterIP)
          await mgr.client.patch(KubevirtClusters, req.name, req.namespace, {
            spec: { controlPlaneEndpoint: { host: svc.spec.clusterIP, port: 6443 } },
          });
      },
    }),
  );
}

function vmFor(m: KubevirtMachine): VirtualMachine {
  const template = (m.spec?.virtualMachineTemplate ?? {}) as {
    metadata?: KubeObject['metadata'];
    spec?: VirtualMachine['spec'];
  };
  const cluster = m.metadata.labels?.[ClusterNameLabel];
  return {
    metadata: {
      name: m.metadata.name,
      namespace: m.metadata.namespace,
      labels: {
        ...(template.metadata?.labels ?? {}),
        'kubevirt.io/vm': m.metadata.name,
        name: m.metadata.name,
        ...(cluster ? { [ClusterNameLabel]: cluster } : {}),
        [CapkMachineLabels.name]: m.metadata.name,
        [CapkMachineLabels.namespace]: m.metadata.namespace!,
      },
    },
    spec: template.spec ?? {
      runStrategy: 'Always',
      template: { spec: { domain: { devices: {}, resources: { requests: { memory: '128Mi' } } } } },
    },
  };
}
