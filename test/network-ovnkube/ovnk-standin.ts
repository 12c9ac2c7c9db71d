// A tiny stand-in for OVN-Kubernetes' pod annotation, as seen through the API server: it writes
// `k8s.ovn.org/pod-networks` on virt-launcher pods once they are scheduled, the way OVN-Kubernetes'
// controller does (go-controller/pkg/util/pod_annotation.go, pkg/kubevirt). It models only what the
// driver reads: on the default network the requested MAC is honoured and the IP comes from the
// node's subnet (requested `ips` are ignored); on a primary layer2 UDN both are honoured; a
// migration target gets a copy of the source pod's annotation. No OVN, no CNI, no ports.
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { kubeRequest } from '../env/kube.js';

const POD_NETWORKS = 'k8s.ovn.org/pod-networks';
const DEFAULT_NETWORK = 'v1.multus-cni.io/default-network';

export type StandInNetwork = 'default' | 'primary-udn';

const terminal = (p: V1Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

function macOf(ipCidr: string): string {
  const bytes = ipCidr
    .split('/')[0]!
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'));
  return ['0a', '58', ...bytes].join(':');
}

export class OvnKubeStandIn {
  /** Which network the VM pods attach to; a test may switch it between VM starts. */
  network: StandInNetwork = 'primary-udn';
  /** The UDN's `namespace/name` key in pod-networks (primary-udn mode). */
  udnKey = 'tenants/l2';
  /** Pods annotated, by name, with what was written. */
  readonly written = new Map<string, string>();
  private readonly latest = new Map<string, V1Pod>();
  private readonly hosts = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();
  private abort: AbortController | undefined;
  readonly errors: string[] = [];

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly namespace: string,
    private readonly nodes: () => readonly string[],
  ) {}

  async start(): Promise<void> {
    this.abort = await new k8s.Watch(this.kc).watch(
      `/api/v1/namespaces/${this.namespace}/pods`,
      { labelSelector: 'kubevirt.io=virt-launcher' },
      (type, pod: V1Pod) => {
        const name = pod.metadata!.name!;
        if (type === 'DELETED') {
          this.latest.delete(name);
          return;
        }
        this.latest.set(name, pod);
        this.chain = this.chain
          .then(() => this.handle(pod))
          .catch((e: unknown) => void this.errors.push(`${name}: ${(e as Error).message}`));
      },
      () => undefined,
    );
  }

  stop(): void {
    this.abort?.abort();
  }

  private async handle(pod: V1Pod): Promise<void> {
    const name = pod.metadata!.name!;
    const node = pod.spec?.nodeName;
    // OVN-Kubernetes acts on scheduled pods only, once.
    if (!node || terminal(pod) || pod.metadata?.deletionTimestamp) return;
    if (pod.metadata?.annotations?.[POD_NETWORKS] !== undefined || this.written.has(name)) return;

    let value: string | undefined;
    if (pod.metadata?.labels?.['kubevirt.io/migrationJobUID'] !== undefined) {
      // A migration target: the source's annotation, IP and MAC kept.
      const vmi = pod.metadata.labels['kubevirt.io/created-by'];
      const source = [...this.latest.values()].find(
        (p) =>
          p.metadata?.name !== name &&
          p.metadata?.labels?.['kubevirt.io/created-by'] === vmi &&
          this.written.has(p.metadata?.name ?? ''),
      );
      if (!source) return;
      value = this.written.get(source.metadata!.name!);
    } else {
      value = JSON.stringify(this.allocate(pod, node));
    }
    await kubeRequest(
      this.kc,
      'PATCH',
      `/api/v1/namespaces/${this.namespace}/pods/${name}`,
      { metadata: { annotations: { [POD_NETWORKS]: value } } },
      'application/merge-patch+json',
    );
    this.written.set(name, value!);
  }

  private allocate(pod: V1Pod, node: string): Record<string, unknown> {
    const requested = parseRequest(pod.metadata?.annotations?.[DEFAULT_NETWORK]);
    const index = Math.max(0, this.nodes().indexOf(node));
    const host = (this.hosts.get(node) ?? 4) + 1;
    this.hosts.set(node, host);
    const nodeIp = `10.128.${index}.${host}/24`;
    const nodeGw = `10.128.${index}.1`;
    if (this.network === 'default') {
      return {
        default: {
          ip_addresses: [nodeIp],
          mac_address: requested?.mac ?? macOf(nodeIp),
          gateway_ips: [nodeGw],
          routes: [{ dest: '10.128.0.0/14', nextHop: nodeGw }],
          ip_address: nodeIp,
          gateway_ip: nodeGw,
          role: 'primary',
        },
      };
    }
    const udnIp = requested?.ips?.[0] ?? `10.200.9.${host}/24`;
    return {
      default: {
        ip_addresses: [nodeIp],
        mac_address: macOf(nodeIp),
        routes: [{ dest: '10.128.0.0/14', nextHop: nodeGw }],
        role: 'infrastructure-locked',
      },
      [this.udnKey]: {
        ip_addresses: [udnIp],
        mac_address: requested?.mac ?? macOf(udnIp),
        gateway_ips: [`${udnIp.split('.').slice(0, 3).join('.')}.1`],
        role: 'primary',
      },
    };
  }
}

function parseRequest(raw: string | undefined): { mac?: string; ips?: string[] } | undefined {
  if (!raw) return undefined;
  const v = JSON.parse(raw) as unknown;
  const el = (Array.isArray(v) ? v[0] : v) as { mac?: string; ips?: string[] } | undefined;
  return el;
}
