// The infra nodes of the datapath: one network namespace per node, each with its own ovsdb-server,
// ovs-vswitchd (userspace datapath: there is no openvswitch kernel module here) and ovn-controller
// registered as chassis `chassis-<node>` with the test's OVN central, joined by Geneve over a veth
// underlay (a Linux bridge in an underlay namespace, 192.168.250.0/24). This is what kubelet's node
// and OVN-Kubernetes' node side would be; the logical network itself is the central's.
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { OvnCentral } from '../env/ovn-central.js';
import { PACKAGED_NICE, run, startDaemon, waitFor } from '../env/processes.js';
import { addVethPair, ipBatch, type NetnsLedger } from './netns.js';

const UNDERLAY_PREFIX = '192.168.250';
/** Ethernet's: the pods' 1400 leaves room for the Geneve header. */
const UNDERLAY_MTU = 1500;
export const POD_MTU = 1400;

export interface InfraNode {
  name: string;
  chassis: string;
  netns: string;
  dir: string;
  encapIp: string;
}

export function chassisOf(node: string): string {
  return `chassis-${node}`;
}

export class InfraNodes {
  private readonly byName = new Map<string, InfraNode>();

  private constructor(
    private readonly ledger: NetnsLedger,
    private readonly central: OvnCentral,
    readonly underlay: string,
  ) {}

  /** Starts the nodes and waits until every chassis is registered and tunnelled to every other. */
  static async start(
    ledger: NetnsLedger,
    central: OvnCentral,
    id: string,
    nodeNames: string[],
  ): Promise<InfraNodes> {
    const underlay = `${id}-ul`;
    const nodes = new InfraNodes(ledger, central, underlay);
    await ledger.addNetns(underlay);
    await ipBatch(underlay, ['link add br0 type bridge', 'link set br0 up']);
    await Promise.all(nodeNames.map((name, i) => nodes.startNode(id, name, i + 1)));
    await nodes.waitMeshed();
    return nodes;
  }

  get list(): InfraNode[] {
    return [...this.byName.values()];
  }

  node(name: string): InfraNode {
    const n = this.byName.get(name);
    if (!n) throw new Error(`datapath: no infra node ${name}`);
    return n;
  }

  vsctl(node: string, ...args: string[]): Promise<string> {
    return run('ovs-vsctl', [`--db=unix:${join(this.node(node).dir, 'db.sock')}`, '--timeout=10', ...args]);
  }

  /** Plugs an interface of the node's namespace into br-int, bound to an OVN logical port (the CNI's job). */
  async plug(node: string, ifname: string, logicalPort: string): Promise<void> {
    await this.vsctl(
      node,
      '--may-exist',
      'add-port',
      'br-int',
      ifname,
      '--',
      'set',
      'Interface',
      ifname,
      `external_ids:iface-id=${logicalPort}`,
    );
  }

  async unplug(node: string, ifname: string): Promise<void> {
    await this.vsctl(node, '--if-exists', 'del-port', 'br-int', ifname);
  }

  /**
   * Waits for ovn-controller to report the interface's flows installed (`ovn-installed`), which
   * needs the logical port to exist: what OVN-Kubernetes' CNI waits for before a pod may start.
   */
  async waitInstalled(node: string, ifname: string, timeoutMs: number): Promise<void> {
    await waitFor(
      `ovn-installed on ${node}/${ifname}`,
      async () => {
        const v = await this.vsctl(
          node,
          '--if-exists',
          'get',
          'Interface',
          ifname,
          'external_ids:ovn-installed',
        );
        return v.trim() === '"true"' ? true : undefined;
      },
      timeoutMs,
      10,
    );
  }

  private async startNode(id: string, name: string, index: number): Promise<void> {
    const netns = `${id}-n${index}`;
    const dir = join(this.ledger.dir, `n${index}`);
    mkdirSync(dir, { recursive: true });
    const node: InfraNode = {
      name,
      chassis: chassisOf(name),
      netns,
      dir,
      encapIp: `${UNDERLAY_PREFIX}.${index}`,
    };
    this.byName.set(name, node);
    await this.ledger.addNetns(netns);
    // Every OVS and OVN default directory inside the node's dir.
    const dirs = [
      'OVS_RUNDIR',
      'OVS_LOGDIR',
      'OVS_DBDIR',
      'OVS_SYSCONFDIR',
      'OVN_RUNDIR',
      'OVN_LOGDIR',
      'OVN_DBDIR',
    ];
    const db = join(dir, 'conf.db');
    const sock = join(dir, 'db.sock');
    await run('ovsdb-tool', ['create', db, '/usr/share/openvswitch/vswitch.ovsschema']);
    const daemon = (what: string, cmd: string, args: string[]) =>
      startDaemon(
        `${what}@${name}`,
        'ip',
        [
          'netns',
          'exec',
          netns,
          'env',
          ...dirs.map((k) => `${k}=${dir}`),
          cmd,
          ...args,
          '--no-chdir',
          `--pidfile=${join(dir, `${what}.pid`)}`,
          `--log-file=${join(dir, `${what}.log`)}`,
          // ovn-controller 23.03 has no --unixctl; its socket goes to OVN_RUNDIR (the node dir).
          ...(what === 'ovn-controller' ? [] : [`--unixctl=${join(dir, `${what}.ctl`)}`]),
        ],
        join(dir, `${what}.out`),
        { nice: PACKAGED_NICE },
      );
    daemon('ovsdb-server', 'ovsdb-server', [db, `--remote=punix:${sock}`]);
    await waitFor(
      `ovsdb-server on ${name}`,
      () => this.vsctl(name, '--no-wait', 'init').then(() => true),
      10_000,
      20,
    );
    await this.vsctl(
      name,
      '--no-wait',
      'set',
      'Open_vSwitch',
      '.',
      `external_ids:system-id=${node.chassis}`,
      `external_ids:hostname=${name}`,
      `external_ids:ovn-remote=${this.central.sbRemote}`,
      'external_ids:ovn-encap-type=geneve',
      `external_ids:ovn-encap-ip=${node.encapIp}`,
      'external_ids:ovn-bridge-datapath-type=netdev',
    );
    daemon('ovs-vswitchd', 'ovs-vswitchd', [`unix:${sock}`]);
    // The underlay: a veth from the node to the underlay bridge, under OVS's br-phy, which holds
    // the node's tunnel endpoint address.
    await addVethPair({ name: 'ul0', netns }, { name: `u${index}`, netns: this.underlay }, UNDERLAY_MTU);
    await ipBatch(this.underlay, [`link set u${index} master br0`, `link set u${index} up`]);
    await ipBatch(netns, ['link set ul0 up']);
    await this.vsctl(
      name,
      'add-br',
      'br-phy',
      '--',
      'set',
      'Bridge',
      'br-phy',
      'datapath_type=netdev',
      '--',
      'add-port',
      'br-phy',
      'ul0',
    );
    await ipBatch(netns, [`addr add ${node.encapIp}/24 dev br-phy`, 'link set br-phy up']);
    daemon('ovn-controller', 'ovn-controller', [`unix:${sock}`]);
  }

  private async waitMeshed(): Promise<void> {
    const want = this.byName.size;
    await waitFor(
      'every chassis registered and tunnelled',
      async () => {
        const chassis = (await this.central.sbctl('--bare', '--columns=name', 'list', 'Chassis'))
          .split('\n')
          .filter((l) => l.trim()).length;
        if (chassis < want) return undefined;
        for (const n of this.byName.values()) {
          const tunnels = (
            await this.vsctl(n.name, '--bare', '--columns=name', 'find', 'Interface', 'type=geneve')
          )
            .split('\n')
            .filter((l) => l.trim()).length;
          if (tunnels < want - 1) return undefined;
        }
        return true;
      },
      30_000,
      50,
    );
  }
}
