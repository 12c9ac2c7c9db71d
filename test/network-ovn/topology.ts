// Test fixture: the part of an OVN-Kubernetes NB that belongs to OVN-Kubernetes, not to the driver.
// ovn_cluster_router; per node a switch named after the node with the rtos-/stor- pair and a /24
// node subnet; a join switch to a gateway router GR_<node> per node (the north next hop is its
// rtoj-GR_<node> IP); OVN-K's "pod to pod: allow" policy and per-node-subnet src-ip routes; one
// ordinary pod per node. Built with ovn-nbctl in one transaction.
import type { OvnCentral } from '../env/ovn-central.js';

export const CLUSTER_CIDR = '10.244.0.0/16';
const R = 'ovn_cluster_router';
export const GATEWAY = { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' };

export interface TestNode {
  name: string;
  /** 1-based; the node subnet is 10.244.<index>.0/24. */
  index: number;
  routerMac: string;
  routerIp: string;
  joinIp: string;
  pod: { name: string; mac: string; ip: string };
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export function testNode(name: string, index: number): TestNode {
  return {
    name,
    index,
    routerMac: `0a:58:0a:f4:${hex(index)}:01`,
    routerIp: `10.244.${index}.1`,
    joinIp: `100.64.0.${index + 1}`,
    pod: { name: `pod-${name}`, mac: `0a:58:0a:f4:${hex(index)}:0a`, ip: `10.244.${index}.10` },
  };
}

/** Builds the OVN-Kubernetes-like topology for these node names; returns the nodes. */
export async function buildTopology(ovn: OvnCentral, names: string[]): Promise<TestNode[]> {
  const nodes = names.map((n, i) => testNode(n, i + 1));
  const cmds: string[][] = [
    ['lr-add', R],
    ['lrp-add', R, 'rtoj-ovn_cluster_router', '0a:58:64:40:00:01', '100.64.0.1/16'],
    ['ls-add', 'join'],
    ['lsp-add', 'join', 'jtor-ovn_cluster_router'],
    ['lsp-set-type', 'jtor-ovn_cluster_router', 'router'],
    ['lsp-set-addresses', 'jtor-ovn_cluster_router', 'router'],
    ['lsp-set-options', 'jtor-ovn_cluster_router', 'router-port=rtoj-ovn_cluster_router'],
    // OVN-K: traffic inside the cluster network is routed normally, never rerouted to a gateway.
    ['lr-policy-add', R, '102', `ip4.src == ${CLUSTER_CIDR} && ip4.dst == ${CLUSTER_CIDR}`, 'allow'],
  ];
  for (const n of nodes) cmds.push(...nodeCommands(n));
  await ovn.nbctlTransaction(cmds);
  return nodes;
}

/** One node's part: its switch with the rtos/stor pair and a pod, its gateway router on the join switch. */
function nodeCommands(n: TestNode): string[][] {
  const gr = `GR_${n.name}`;
  return [
    ['lrp-add', R, `rtos-${n.name}`, n.routerMac, `${n.routerIp}/24`],
    ['ls-add', n.name],
    ['lsp-add', n.name, `stor-${n.name}`],
    ['lsp-set-type', `stor-${n.name}`, 'router'],
    ['lsp-set-addresses', `stor-${n.name}`, 'router'],
    ['lsp-set-options', `stor-${n.name}`, `router-port=rtos-${n.name}`],
    ['lsp-add', n.name, n.pod.name],
    ['lsp-set-addresses', n.pod.name, `${n.pod.mac} ${n.pod.ip}`],
    ['lsp-set-port-security', n.pod.name, `${n.pod.mac} ${n.pod.ip}`],
    ['lr-add', gr],
    ['set', 'Logical_Router', gr, `options:chassis=chassis-${n.name}`],
    ['lrp-add', gr, `rtoj-${gr}`, `0a:58:64:40:00:${hex(n.index + 1)}`, `${n.joinIp}/16`],
    ['lsp-add', 'join', `jtor-${gr}`],
    ['lsp-set-type', `jtor-${gr}`, 'router'],
    ['lsp-set-addresses', `jtor-${gr}`, 'router'],
    ['lsp-set-options', `jtor-${gr}`, `router-port=rtoj-${gr}`],
    // OVN-K: pods of the node subnet leave through the node's gateway router.
    ['--policy=src-ip', 'lr-route-add', R, `10.244.${n.index}.0/24`, n.joinIp],
  ];
}

/** A node joining a topology buildTopology made: its switch, ports, pod and gateway router. */
export async function addNode(ovn: OvnCentral, name: string, index: number): Promise<TestNode> {
  const n = testNode(name, index);
  await ovn.nbctlTransaction(nodeCommands(n));
  return n;
}

/** A node leaving, as OVN-Kubernetes removes it: its switch (and the ports on it), router ports, gateway router. */
export async function removeNode(ovn: OvnCentral, n: TestNode): Promise<void> {
  const gr = `GR_${n.name}`;
  await ovn.nbctlTransaction([
    ['ls-del', n.name],
    ['lrp-del', `rtos-${n.name}`],
    ['lsp-del', `jtor-${gr}`],
    ['lr-del', gr],
    ['--policy=src-ip', 'lr-route-del', R, `10.244.${n.index}.0/24`],
  ]);
}
