// A tenant node VM's guest, as packets see it: a network namespace whose one NIC `eth0` (the VM's
// stable MAC) is a Linux bridge over one veth per virt-launcher pod, each plugged into the br-int of
// the node that runs that pod. Only the NIC of the pod the guest runs in is up. A live migration's
// switch-over is one `ip -batch` that ups the target veth and downs the source's: the guest keeps its
// NIC, address, routes and sockets, as a migrated VM keeps its virtio NIC. The guest configures
// itself only by DHCP (busybox udhcpc, `guest-dhcp.sh`): nothing here sets its address.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, stopPid, waitFor } from '../env/processes.js';
import { POD_MTU, type InfraNodes } from './infra-nodes.js';
import { addVethPair, disableIpv6, ipBatch, netnsExec, txChecksumOff, type NetnsLedger } from './netns.js';

/** Guest NIC ifindexes start here, far above any node namespace's own (see attach). */
const GUEST_NIC_IFINDEX_BASE = 10_000;

export const GUEST_DHCP_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'guest-dhcp.sh');

/** One DHCP event as the guest's udhcpc script recorded it. */
export interface LeaseEvent {
  event: 'deconfig' | 'bound' | 'renew' | 'leasefail' | 'nak' | string;
  atMs: number;
  ip: string;
  mask: string;
  router: string;
  mtu: string;
  hostname: string;
  dns: string;
  staticroutes: string;
  lease: string;
  serverid: string;
}

interface GuestNic {
  pod: string;
  node: string;
  /** In the guest's namespace, member of eth0. */
  guestIf: string;
  /** In the node's namespace, plugged into br-int. */
  nodeIf: string;
  logicalPort: string;
}

export class GuestVm {
  private readonly nics = new Map<string, GuestNic>();
  private activePod?: string;
  private dhcp?: ChildProcess;
  private nicSeq = 0;
  /** Switch-over times (ms since the epoch), one per migration, for downtime analysis. */
  readonly switchovers: { atMs: number; from: string; to: string }[] = [];

  constructor(
    readonly name: string,
    /** The VMI this guest is an incarnation of: a restarted VM boots a new guest. */
    readonly vmiUid: string | undefined,
    readonly netns: string,
    readonly mac: string,
    private readonly index: number,
    private readonly ledger: NetnsLedger,
    private readonly nodes: InfraNodes,
  ) {}

  get leaseLog(): string {
    return join(this.ledger.dir, `${this.netns}.leases`);
  }

  /** The node whose pod the guest runs in now. */
  get node(): string | undefined {
    return this.activePod ? this.nics.get(this.activePod)?.node : undefined;
  }

  /** Creates the guest's namespace and its bridge NIC (powered off: no DHCP yet). */
  async create(): Promise<void> {
    await this.ledger.addNetns(this.netns);
    await disableIpv6(this.netns);
    await ipBatch(this.netns, ['link add eth0 type bridge', `link set eth0 address ${this.mac}`]);
    await txChecksumOff(this.netns, 'eth0');
  }

  /** The CNI ADD for one launcher pod: a veth from the guest to the node's br-int, bound to the VM's port. */
  async attach(pod: string, node: string, logicalPort: string): Promise<void> {
    if (this.nics.has(pod)) return;
    const seq = this.nicSeq++;
    const nic: GuestNic = {
      pod,
      node,
      guestIf: `nic${seq}`,
      nodeIf: `v${this.index}x${seq}`,
      logicalPort,
    };
    const nodeNs = this.nodes.node(node).netns;
    // ifindexes are per namespace, so the two ends of a veth can share one. Linux then takes the
    // link's carrier events for non-urgent and batches them up to a second (linkwatch), and the
    // guest's bridge passed nothing through that NIC for 150–500 ms after a switch-over (it was
    // the 7th and 8th switch-overs of every bench run). Guest NICs get ifindexes no node reaches.
    await addVethPair(
      { name: nic.guestIf, netns: this.netns, ifindex: GUEST_NIC_IFINDEX_BASE + seq },
      { name: nic.nodeIf, netns: nodeNs },
      POD_MTU,
    );
    // Isolated: the bridge never forwards from one node's NIC to another's, while both are up.
    await ipBatch(this.netns, [
      `link set ${nic.guestIf} master eth0`,
      `link set dev ${nic.guestIf} type bridge_slave isolated on`,
    ]);
    await txChecksumOff(this.netns, nic.guestIf);
    await ipBatch(nodeNs, [`link set ${nic.nodeIf} up`]);
    await this.nodes.plug(node, nic.nodeIf, logicalPort);
    this.nics.set(pod, nic);
  }

  /** Powers the guest on in this pod's NIC: link up, then DHCP, retried until the port answers. */
  async boot(pod: string): Promise<void> {
    const nic = this.nicOf(pod);
    this.activePod = pod;
    await ipBatch(this.netns, [`link set ${nic.guestIf} up`, 'link set eth0 up']);
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.netns,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-f',
        '-t',
        '3',
        '-T',
        '1',
        '-A',
        '1',
        '-O',
        'staticroutes',
        '-O',
        'mtu',
        '-O',
        'hostname',
        '-O',
        'dns',
        '-s',
        GUEST_DHCP_SCRIPT,
        '-p',
        join(this.ledger.dir, `${this.netns}-udhcpc.pid`),
      ],
      { env: { ...process.env, CAPK_PODNET_LEASE_LOG: this.leaseLog }, stdio: 'ignore', detached: true },
    );
    child.unref();
    this.dhcp = child;
  }

  /** The migration's switch-over: the guest now runs in `toPod`; its NIC moves there in one step. */
  async switchOver(fromPod: string, toPod: string): Promise<number> {
    const from = this.nicOf(fromPod);
    const to = this.nicOf(toPod);
    // Target up first: the guest's NIC never loses carrier (Linux would flush its neighbours, and
    // a lost re-ARP waits a second), as a migrated VM's virtio NIC never does.
    await ipBatch(this.netns, [`link set ${to.guestIf} up`, `link set ${from.guestIf} down`]);
    // The mark is when the switch is surely done: on a busy machine starting `ip` alone takes tens of ms.
    const atMs = performance.timeOrigin + performance.now();
    this.activePod = toPod;
    this.switchovers.push({ atMs, from: from.node, to: to.node });
    return atMs;
  }

  /** The CNI DEL for one launcher pod; if the guest ran there, it is powered off with it. */
  async detach(pod: string): Promise<'detached' | 'powered-off' | 'unknown'> {
    const nic = this.nics.get(pod);
    if (!nic) return 'unknown';
    this.nics.delete(pod);
    await this.nodes.unplug(nic.node, nic.nodeIf).catch(() => undefined);
    await run('ip', ['-n', this.nodes.node(nic.node).netns, 'link', 'del', nic.nodeIf]).catch(
      () => undefined,
    );
    if (this.activePod !== pod) return 'detached';
    await this.powerOff();
    return 'powered-off';
  }

  async powerOff(): Promise<void> {
    this.activePod = undefined;
    if (this.dhcp?.pid) await stopPid(this.dhcp.pid, 2_000);
    this.dhcp = undefined;
    for (const nic of this.nics.values()) {
      await this.nodes.unplug(nic.node, nic.nodeIf).catch(() => undefined);
    }
    this.nics.clear();
    await this.ledger.deleteNetns(this.netns);
  }

  /** Every DHCP event so far, oldest first. */
  leases(): LeaseEvent[] {
    if (!existsSync(this.leaseLog)) return [];
    return readFileSync(this.leaseLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LeaseEvent);
  }

  /** Waits for a bound or renewed lease after `sinceMs`. */
  async waitLease(timeoutMs: number, sinceMs = 0): Promise<LeaseEvent> {
    return waitFor(
      `a DHCP lease in ${this.name}`,
      async () =>
        this.leases().find((e) => (e.event === 'bound' || e.event === 'renew') && e.atMs >= sinceMs),
      timeoutMs,
      20,
    );
  }

  /** Asks udhcpc to renew now (SIGUSR1), as a guest does at T1; resolves with the renewed lease. */
  async renew(timeoutMs = 10_000): Promise<LeaseEvent> {
    const since = Date.now();
    if (!this.dhcp?.pid) throw new Error(`${this.name}: no DHCP client running`);
    process.kill(this.dhcp.pid, 'SIGUSR1');
    return this.waitLease(timeoutMs, since);
  }

  /** Runs a command in the guest. */
  exec(cmd: string, ...args: string[]): Promise<string> {
    return netnsExec(this.netns, cmd, ...args);
  }

  private nicOf(pod: string): GuestNic {
    const nic = this.nics.get(pod);
    if (!nic) throw new Error(`${this.name}: no NIC for pod ${pod}`);
    return nic;
  }

  /** The node-side interface of a pod's NIC (to wait for OVN to install it). */
  nodeInterface(pod: string): { node: string; ifname: string } {
    const nic = this.nicOf(pod);
    return { node: nic.node, ifname: nic.nodeIf };
  }
}
