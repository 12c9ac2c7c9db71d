// A whole tenant-cluster world on real parts, for end-to-end tests and the demo: the API server
// (shared test control plane or the demo's), a real OVN central with an OVN-Kubernetes-like
// topology, the KubeVirt simulator on matching infra nodes, capk's VM-creating part stood in, and the
// capk-podnet manager (in-cluster IPAM, the machine and cluster network controllers with the OVN driver,
// the VM webhook).
import type * as k8s from '@kubernetes/client-node';
import { KubevirtClusters, KubevirtMachines, type KubevirtMachine } from '../../src/capk/resources.js';
import {
  VirtualMachineInstanceMigrations,
  VirtualMachineInstances,
  type VirtualMachineInstance,
} from '../../src/kubevirt/resources.js';
import { addClusterNetworkController } from '../../src/controllers/cluster-network/index.js';
import { addMachineNetworkController } from '../../src/controllers/machine-network/index.js';
import { addInClusterPoolProvider } from '../../src/ipam/index.js';
import { OvnDriver, type OvnDriverOptions } from '../../src/network/ovn/index.js';
import {
  Manager,
  RestClient,
  createLogger,
  getCondition,
  type KubeObject,
  type Logger,
} from '../../src/runtime/index.js';
import { DatapathHarness } from '../datapath/harness.js';
import { chassisOf } from '../datapath/infra-nodes.js';
import { KubevirtSimulator, type SimulatorHooks, type SimulatorTiming } from '../kubevirt-sim/index.js';
import { GATEWAY, buildTopology, type TestNode } from '../network-ovn/topology.js';
import { startCapkStandIn, type CapkStandIn } from './capk-standin.js';
import { createTestNamespace } from './kube.js';
import { OvnCentral } from './ovn-central.js';
import { waitFor } from './processes.js';
import { serveVmWebhook, type VmWebhook } from './webhook.js';

export const INFRA_DNS = '10.96.0.10';

/** A KubevirtMachine of a tenant cluster, with the VM template capk would be given. */
export function kubevirtMachineObject(
  ns: string,
  cluster: string,
  name: string,
  network?: object,
): KubeObject {
  return {
    metadata: { name, namespace: ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
    spec: {
      ...(network ? { network } : {}),
      virtualMachineTemplate: {
        spec: {
          runStrategy: 'Always',
          template: {
            spec: {
              evictionStrategy: 'LiveMigrate',
              domain: { devices: {}, resources: { requests: { memory: '1Gi' } } },
            },
          },
        },
      },
    },
  } as KubeObject;
}

const Pods = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };

export interface TenantWorldOptions {
  kc: k8s.KubeConfig;
  /** Namespace prefix; node names derive from the namespace so suites never share nodes. */
  prefix: string;
  nodes?: number;
  timing?: Partial<SimulatorTiming>;
  hooks?: SimulatorHooks;
  logger?: Logger;
  /**
   * Real packets: infra nodes with OVS and ovn-controller, ordinary pods and the VMs' guests as
   * network namespaces (test/datapath). Needs root.
   */
  datapath?: boolean;
  /** OVN driver options beyond the NB address (e.g. `migration: 'multi-chassis'`). */
  ovn?: Omit<OvnDriverOptions, 'nbRemotes'>;
  /**
   * false: no manager in this process; the caller runs one (e.g. as its own process through the
   * CLI, as bench/migration does) against `ovn.nbRemote`.
   */
  manager?: boolean;
}

export class TenantWorld {
  manager?: Manager;
  driver?: OvnDriver;
  private webhook?: VmWebhook;
  private migrationSeq = 0;

  private constructor(
    readonly opts: TenantWorldOptions,
    readonly ns: string,
    readonly client: RestClient,
    readonly ovn: OvnCentral,
    readonly nodes: TestNode[],
    readonly sim: KubevirtSimulator,
    readonly capk: CapkStandIn,
    readonly datapath: DatapathHarness | undefined,
  ) {}

  static async start(opts: TenantWorldOptions): Promise<TenantWorld> {
    const ns = await createTestNamespace(opts.kc, opts.prefix);
    const names = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `${ns}-n${i + 1}`);
    // A failed start must not leave daemons behind: undo what was started, in reverse.
    const undo: Array<() => Promise<void>> = [];
    try {
      const ovn = await OvnCentral.start();
      undo.push(() => ovn.stop());
      const nodes = await buildTopology(ovn, names);
      let datapath: DatapathHarness | undefined;
      if (opts.datapath) {
        datapath = await DatapathHarness.start({
          central: ovn,
          nodes,
          kc: opts.kc,
          portPerVm: opts.ovn?.migration === 'multi-chassis',
        });
        const dp = datapath;
        undo.push(() => dp.stop());
      }
      const sim = new KubevirtSimulator();
      undo.push(() => sim.stop());
      const hooks = datapath ? { ...datapath.simulatorHooks(), ...opts.hooks } : opts.hooks;
      // Plugging a real NIC takes several ip and ovs-vsctl runs: on a busy machine a target pod can
      // take longer than the simulator's default second to start.
      const timing = datapath ? { targetPendingTimeoutMs: 30_000, ...opts.timing } : opts.timing;
      await sim.start(opts.kc, {
        namespace: ns,
        nodes: names,
        ...(timing ? { timing } : {}),
        ...(hooks ? { hooks } : {}),
        ...(datapath ? { network: datapath.podNetwork() } : {}),
      });
      const capk = await startCapkStandIn(opts.kc, ns, { controlPlaneService: true });
      undo.push(() => capk.stop());
      const world = new TenantWorld(opts, ns, new RestClient(opts.kc), ovn, nodes, sim, capk, datapath);
      if (opts.manager !== false) {
        undo.push(() => world.stopManager());
        await world.startManager();
      }
      return world;
    } catch (e) {
      for (const u of undo.reverse()) await u().catch(() => undefined);
      throw e;
    }
  }

  /** Starts capk-podnet's manager (again, after stopManager: a controller restart). */
  async startManager(): Promise<void> {
    const logger = this.opts.logger ?? createLogger({ level: 'error' });
    const mgr = new Manager({ kubeConfig: this.opts.kc, namespaces: [this.ns], logger });
    const driver = new OvnDriver({
      nbRemotes: this.ovn.nbRemote,
      logger,
      // The datapath's chassis (and the fixture's gateway routers) are named chassis-<node>.
      chassisOf: chassisOf,
      // As the CLI's manager does: before any VM (see the option).
      gatewayOnEveryNode: GATEWAY,
      ...this.opts.ovn,
    });
    await driver.start();
    addInClusterPoolProvider(mgr);
    addMachineNetworkController(mgr, { driver, defaults: { dnsServers: [INFRA_DNS], mtu: 1400 } });
    addClusterNetworkController(mgr);
    this.webhook = await serveVmWebhook(this.opts.kc, mgr, this.ns);
    await mgr.start();
    this.manager = mgr;
    this.driver = driver;
  }

  /** Stops the manager as a crash would leave things: no cleanup of what it wrote. */
  async stopManager(): Promise<void> {
    await this.webhook?.stop();
    await this.manager?.stop();
    await this.driver?.stop();
    this.manager = this.driver = this.webhook = undefined;
  }

  async createCluster(name: string, network: object): Promise<void> {
    await this.client.create(KubevirtClusters, {
      metadata: { name, namespace: this.ns },
      spec: { network },
    } as KubeObject);
  }

  async createMachine(cluster: string, name: string, network?: object): Promise<void> {
    await this.client.create(KubevirtMachines, kubevirtMachineObject(this.ns, cluster, name, network));
  }

  async machine(name: string): Promise<KubevirtMachine> {
    return this.client.get<KubevirtMachine>(KubevirtMachines, name, this.ns);
  }

  /** Waits for the machine's NetworkReady (on `node`, if given); the error tells what was seen. */
  async networkReadyOn(name: string, node?: string, timeoutMs = 30_000): Promise<KubevirtMachine> {
    let last: KubevirtMachine | undefined;
    try {
      return await waitFor(
        `${name} NetworkReady${node ? ` on ${node}` : ''}`,
        async () => {
          const m = (last = await this.machine(name));
          const ready = getCondition(m, 'NetworkReady');
          const net = m.status?.network;
          return ready?.status === 'True' && net?.phase === 'Ready' && (!node || net.node === node)
            ? m
            : undefined;
        },
        timeoutMs,
        50,
      );
    } catch (e) {
      const vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, this.ns);
      const pods = (await this.client.list<KubeObject>(Pods, { namespace: this.ns })).items
        .filter((p) => p.metadata.annotations?.['kubevirt.io/domain'] === name)
        .map((p) => ({
          n: p.metadata.name,
          l: p.metadata.labels,
          node: (p.spec as { nodeName?: string }).nodeName,
          ph: (p.status as { phase?: string }).phase,
        }));
      throw new Error(
        `${(e as Error).message}; last status: ${JSON.stringify(last?.status)}; vmi: ${JSON.stringify(vmi?.status)}; pods: ${JSON.stringify(pods)}`,
      );
    }
  }

  /** The node of the VM's running VMI (waits for it to run). */
  async vmiNode(name: string, timeoutMs = 30_000): Promise<string> {
    return waitFor(
      `${name} VMI running`,
      async () => {
        const vmi = await this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, this.ns);
        return vmi?.status?.phase === 'Running' ? vmi.status.nodeName : undefined;
      },
      timeoutMs,
    );
  }

  /** Live-migrates a VMI through a VirtualMachineInstanceMigration; resolves with its final phase. */
  async migrate(vmi: string, timeoutMs = 30_000): Promise<{ phase: string; failureReason?: string }> {
    const name = `${vmi}-mig-${++this.migrationSeq}`;
    await this.client.create(VirtualMachineInstanceMigrations, {
      metadata: { name, namespace: this.ns },
      spec: { vmiName: vmi },
    } as KubeObject);
    return waitFor(
      `migration ${name} done`,
      async () => {
        const m = await this.client.get<
          KubeObject & { status?: { phase?: string; migrationState?: { failureReason?: string } } }
        >(VirtualMachineInstanceMigrations, name, this.ns);
        const reason = m.status?.migrationState?.failureReason;
        if (m.status?.phase === 'Failed')
          return { phase: 'Failed', ...(reason ? { failureReason: reason } : {}) };
        return m.status?.phase === 'Succeeded' ? { phase: 'Succeeded' } : undefined;
      },
      timeoutMs,
    );
  }

  /** The nodes whose router port a /32 ("south") route to this VM IP leaves through, from the NB. */
  async southRouteNodes(ip: string): Promise<string[]> {
    const out = JSON.parse(
      await this.ovn.nbctl(
        '--format=json',
        '--columns=ip_prefix,output_port',
        'list',
        'Logical_Router_Static_Route',
      ),
    ) as { data: [string, string | [string, string[]]][] };
    return out.data
      .filter(([prefix]) => prefix === `${ip}/32` || prefix === ip)
      .flatMap(([, port]) => (Array.isArray(port) ? port[1] : [port]))
      .map((port) => port.replace(/^rtos-/, ''));
  }

  /** Stops every part, each even when an earlier one failed to (no daemon is left behind). */
  async stop(): Promise<void> {
    const errors: unknown[] = [];
    const parts = [
      () => this.stopManager(),
      () => this.capk.stop(),
      () => this.sim.stop(),
      async () => this.datapath?.stop(),
      () => this.ovn.stop(),
    ];
    for (const stop of parts) await stop().catch((e: unknown) => errors.push(e));
    this.client.close();
    if (errors.length)
      throw new AggregateError(errors, `tenant world: ${errors.length} part(s) failed to stop`);
  }
}
