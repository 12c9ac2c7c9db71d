// The datapath harness: real packets for the tenant-cluster world. It stands in for what runs on the
// infra nodes (kubelet's network side, the CNI, the hypervisor) and nothing else:
// - infra nodes with OVS + ovn-controller (infra-nodes.ts), chassis of the test's OVN central;
// - one ordinary pod per node (the topology fixture's `pod-<node>` port), a namespace with the
//   address OVN-Kubernetes' CNI would have given it;
// - virt-launcher pods realised as NICs of guest namespaces (guest.ts): the simulator calls the CNI
//   ADD/DEL (`podNetwork()`), gates a migration's TargetReady on the target NIC being installed, and
//   has the guest switch over at the target domain's ready moment (`simulatorHooks()`).
// It never writes OVN's northbound database: the VM's ports and routes are the controller's, the
// rest of the logical network the OVN-Kubernetes stand-in's (test/network-ovn/topology.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { defaultVmPortName } from '../../src/network/ovn/index.js';
import {
  KubevirtAnnotations,
  KubevirtLabels,
  VirtualMachineInstances,
} from '../../src/kubevirt/resources.js';
import { RestClient, type KubeObject } from '../../src/runtime/index.js';
import type { OvnCentral } from '../env/ovn-central.js';
import { waitFor } from '../env/processes.js';
import type { PodNetwork, SimulatorHooks } from '../kubevirt-sim/index.js';
import type { TestNode } from '../network-ovn/topology.js';
import { GuestVm } from './guest.js';
import { InfraNodes, POD_MTU } from './infra-nodes.js';
import {
  DATAPATH_DIR_PREFIX,
  NetnsLedger,
  addVethPair,
  disableIpv6,
  ipBatch,
  netnsExec,
  sweepStaleDatapaths,
  txChecksumOff,
} from './netns.js';

export interface DatapathOptions {
  central: OvnCentral;
  /** The topology fixture's nodes (names, ordinary pods and their router addresses). */
  nodes: TestNode[];
  kc: k8s.KubeConfig;
  /** The port a VM's NIC binds to on a node; the OVN driver's naming by default. */
  vmPortName?: (machine: { namespace: string; name: string }, node: string) => string;
  /**
   * Every NIC of a VM binds to the one port the driver keeps for the VM's life (OVN driver in
   * multi-chassis mode: the port is named after the node the VM first ran on); else one port per node.
   */
  portPerVm?: boolean;
  /** How long a target NIC may take to be installed before the migration fails. */
  targetInstallTimeoutMs?: number;
}

/** An ordinary pod of the infra cluster on one node. */
export interface InfraPod {
  node: string;
  netns: string;
  ip: string;
}

interface VmiLike extends KubeObject {
  spec?: { domain?: { devices?: { interfaces?: { macAddress?: string }[] } } };
}

export class DatapathHarness {
  private readonly guests = new Map<string, GuestVm>();
  /** portPerVm: the port each VM first bound to, kept across restarts as the driver keeps it. */
  private readonly vmPorts = new Map<string, string>();
  private readonly pods = new Map<string, InfraPod>();
  private guestSeq = 0;
  /** Background guest boots, so that stop() can wait for them. */
  private readonly booting = new Set<Promise<void>>();
  private readonly errors: string[] = [];

  private constructor(
    private readonly opts: DatapathOptions,
    readonly id: string,
    private readonly ledger: NetnsLedger,
    readonly nodes: InfraNodes,
    private readonly client: RestClient,
  ) {}

  static async start(opts: DatapathOptions): Promise<DatapathHarness> {
    await sweepStaleDatapaths();
    const id = `cpn${randomBytes(3).toString('hex')}`;
    const ledger = new NetnsLedger(mkdtempSync(join(tmpdir(), DATAPATH_DIR_PREFIX)));
    try {
      const nodes = await InfraNodes.start(
        ledger,
        opts.central,
        id,
        opts.nodes.map((n) => n.name),
      );
      const h = new DatapathHarness(opts, id, ledger, nodes, new RestClient(opts.kc));
      for (const n of opts.nodes) await h.startPod(n);
      return h;
    } catch (e) {
      await ledger.teardown();
      throw e;
    }
  }

  /** The ordinary pod on a node. */
  pod(node: string): InfraPod {
    const p = this.pods.get(node);
    if (!p) throw new Error(`datapath: no pod on node ${node}`);
    return p;
  }

  /** The running guest of a VM (by namespace/name), if it has been started. */
  guest(namespace: string, name: string): GuestVm | undefined {
    return this.guests.get(`${namespace}/${name}`);
  }

  /** Waits for the VM's guest to be started (its first launcher pod running). */
  waitGuest(namespace: string, name: string, timeoutMs = 30_000): Promise<GuestVm> {
    return waitFor(`${namespace}/${name}'s guest`, async () => this.guest(namespace, name), timeoutMs);
  }

  /** Problems met in background work (a guest that failed to boot), for tests to assert on. */
  get problems(): readonly string[] {
    return this.errors;
  }

  /** Runs a command in one of the harness's namespaces. */
  exec(netns: string, cmd: string, ...args: string[]): Promise<string> {
    return netnsExec(netns, cmd, ...args);
  }

  /** The pod network the simulator's kubelet calls: CNI ADD (no IP on the pod: DHCP) and DEL. */
  podNetwork(): PodNetwork {
    return {
      podIPs: async (pod, node) => {
        if (isLauncher(pod)) await this.launcherAdded(pod, node);
        // The VM's address is served by DHCP from its port; the pod itself gets none.
        return [];
      },
      teardown: async (pod) => {
        if (isLauncher(pod)) await this.launcherRemoved(pod);
      },
    };
  }

  /** The migration's node-side moments: target NIC installed before TargetReady; the switch-over. */
  simulatorHooks(): SimulatorHooks {
    return {
      awaitTargetReady: async ({ targetPod, vmi }) => {
        const { node, ifname } = this.guestOf(vmi).nodeInterface(targetPod.metadata!.name!);
        await this.nodes.waitInstalled(node, ifname, this.opts.targetInstallTimeoutMs ?? 30_000);
      },
      onTargetDomainReady: async ({ sourcePod, targetPod, vmi }) => {
        await this.guestOf(vmi).switchOver(sourcePod.metadata!.name!, targetPod.metadata!.name!);
      },
    };
  }

  /** The guest of a migrating VMI; a migration of a VM the harness never started cannot be moved. */
  private guestOf(vmi: { metadata: { namespace?: string; name?: string } }): GuestVm {
    const guest = this.guests.get(`${vmi.metadata.namespace}/${vmi.metadata.name}`);
    if (!guest) throw new Error(`datapath: no guest for ${vmi.metadata.name}`);
    return guest;
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.booting]);
    for (const g of this.guests.values()) await g.powerOff().catch(() => undefined);
    this.guests.clear();
    this.client.close();
    await this.ledger.teardown();
  }

  private async startPod(n: TestNode): Promise<void> {
    const netns = `${this.id}-p${n.index}`;
    const nodeNs = this.nodes.node(n.name).netns;
    const nodeIf = `pod${n.index}`;
    await this.ledger.addNetns(netns);
    await addVethPair({ name: 'eth0', netns }, { name: nodeIf, netns: nodeNs }, POD_MTU);
    await disableIpv6(netns);
    await ipBatch(netns, [
      `link set eth0 address ${n.pod.mac}`,
      `addr add ${n.pod.ip}/24 dev eth0`,
      'link set eth0 up',
      `route add default via ${n.routerIp}`,
    ]);
    await txChecksumOff(netns, 'eth0');
    await ipBatch(nodeNs, [`link set ${nodeIf} up`]);
    await this.nodes.plug(n.name, nodeIf, n.pod.name);
    await this.nodes.waitInstalled(n.name, nodeIf, 30_000);
    this.pods.set(n.name, { node: n.name, netns, ip: n.pod.ip });
  }

  private async launcherAdded(pod: V1Pod, node: string): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const vmName = pod.metadata!.annotations?.[KubevirtAnnotations.domain];
    if (!vmName) return;
    const key = `${namespace}/${vmName}`;
    let guest = this.guests.get(key);
    const nodePort = (this.opts.vmPortName ?? defaultVmPortName)({ namespace, name: vmName }, node);
    const portName = this.opts.portPerVm ? (this.vmPorts.get(key) ?? nodePort) : nodePort;
    if (this.opts.portPerVm) this.vmPorts.set(key, portName);
    const isTarget = pod.metadata!.labels?.[KubevirtLabels.migrationJobUid] !== undefined;
    const vmiUid = pod.metadata!.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance')?.uid;
    if (guest && !isTarget && guest.vmiUid !== vmiUid) {
      // A new VMI of the same VM (a restart) whose old pod's DEL has not come yet: a new boot.
      await guest.powerOff();
      this.guests.delete(key);
      guest = undefined;
    }
    if (!guest) {
      if (isTarget) return; // a migration of a VM this harness never started: nothing to move
      const vmi = await this.client.tryGet<VmiLike>(VirtualMachineInstances, vmName, namespace);
      const mac = vmi?.spec?.domain?.devices?.interfaces?.[0]?.macAddress;
      if (!mac) throw new Error(`datapath: VMI ${key} has no MAC on its interface`);
      guest = new GuestVm(
        key,
        vmiUid,
        `${this.id}-vm${++this.guestSeq}`,
        mac,
        this.guestSeq,
        this.ledger,
        this.nodes,
      );
      await guest.create();
      this.guests.set(key, guest);
    }
    await guest.attach(pod.metadata!.name!, node, portName);
    if (isTarget) return;
    // The guest boots once the pod runs; its DHCP client retries until the controller's port answers.
    const g = guest;
    const boot = g.boot(pod.metadata!.name!).catch((e: Error) => {
      this.errors.push(`${key}: boot failed: ${e.message}`);
    });
    this.booting.add(boot);
    void boot.finally(() => this.booting.delete(boot));
  }

  private async launcherRemoved(pod: V1Pod): Promise<void> {
    const vmName = pod.metadata!.annotations?.[KubevirtAnnotations.domain];
    if (!vmName) return;
    const key = `${pod.metadata!.namespace}/${vmName}`;
    const guest = this.guests.get(key);
    if (!guest) return;
    if ((await guest.detach(pod.metadata!.name!)) === 'powered-off') this.guests.delete(key);
  }
}

function isLauncher(pod: V1Pod): boolean {
  return pod.metadata?.labels?.[KubevirtLabels.app] === KubevirtLabels.appLauncher;
}
