// A whole tenant-cluster world on real parts, for end-to-end tests and the demo: the API server
// (shared test control plane or the demo's), a real OVN central with an OVN-Kubernetes-like
// topology, the KubeVirt simulator on matching infra nodes, capk's VM-creating part stood in, and the
// capk-podnet manager (in-cluster IPAM, machine network controller with the OVN driver, VM webhook).
import type * as k8s from '@kubernetes/client-node';
import { KubevirtClusters, KubevirtMachines } from '../../src/capk/resources.js';
import { addMachineNetworkController } from '../../src/controllers/machine-network/index.js';
import { addInClusterPoolProvider } from '../../src/ipam/index.js';
import { OvnDriver } from '../../src/network/ovn/index.js';
import { Manager, RestClient, createLogger, type KubeObject, type Logger } from '../../src/runtime/index.js';
import { KubevirtSimulator, type SimulatorHooks, type SimulatorTiming } from '../kubevirt-sim/index.js';
import { buildTopology, type TestNode } from '../network-ovn/topology.js';
import { startCapkStandIn, type CapkStandIn } from './capk-standin.js';
import { createTestNamespace } from './kube.js';
import { OvnCentral } from './ovn-central.js';
import { serveVmWebhook, type VmWebhook } from './webhook.js';

export const INFRA_DNS = '10.96.0.10';

export interface TenantWorldOptions {
  kc: k8s.KubeConfig;
  /** Namespace prefix; node names derive from the namespace so suites never share nodes. */
  prefix: string;
  nodes?: number;
  timing?: Partial<SimulatorTiming>;
  hooks?: SimulatorHooks;
  logger?: Logger;
}

export class TenantWorld {
  manager?: Manager;
  driver?: OvnDriver;
  private webhook?: VmWebhook;

  private constructor(
    readonly opts: TenantWorldOptions,
    readonly ns: string,
    readonly client: RestClient,
    readonly ovn: OvnCentral,
    readonly nodes: TestNode[],
    readonly sim: KubevirtSimulator,
    readonly capk: CapkStandIn,
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
      const sim = new KubevirtSimulator();
      undo.push(() => sim.stop());
      await sim.start(opts.kc, {
        namespace: ns,
        nodes: names,
        ...(opts.timing ? { timing: opts.timing } : {}),
        ...(opts.hooks ? { hooks: opts.hooks } : {}),
      });
      const capk = await startCapkStandIn(opts.kc, ns);
      undo.push(() => capk.stop());
      const world = new TenantWorld(opts, ns, new RestClient(opts.kc), ovn, nodes, sim, capk);
      undo.push(() => world.stopManager());
      await world.startManager();
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
    const driver = new OvnDriver({ nbRemotes: this.ovn.nbRemote, logger });
    await driver.start();
    addInClusterPoolProvider(mgr);
    addMachineNetworkController(mgr, { driver, defaults: { dnsServers: [INFRA_DNS], mtu: 1400 } });
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
    await this.client.create(KubevirtMachines, {
      metadata: { name, namespace: this.ns, labels: { 'cluster.x-k8s.io/cluster-name': cluster } },
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
    } as KubeObject);
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

  async stop(): Promise<void> {
    await this.stopManager();
    await this.capk.stop();
    await this.sim.stop();
    await this.ovn.stop();
    this.client.close();
  }
}
