// The OVN-Kubernetes network driver: for infra clusters whose OVN-Kubernetes carries KubeVirt live
// migration itself. It never writes to OVN. It asks OVN-Kubernetes, through the VM template's
// annotations, for what it honours (the machine's MAC, and its IP on a primary layer2 UDN), opts
// the VM into bridge live migration, and reads back what OVN-Kubernetes wrote on the virt-launcher
// pods (`k8s.ovn.org/pod-networks`) to report the IP, the MAC and the node traffic goes to.
// Template annotations reach the VMI, and so the pod, when the VMI is created: a change made while
// the VM runs applies at its next start.
import { VirtualMachineInstances, VirtualMachines, type Pod } from '../../kubevirt/resources.js';
import {
  KubevirtLabels,
  type VirtualMachine,
  type VirtualMachineInstance,
} from '../../kubevirt/resources.js';
import { Pods, isConflict, isNotFound, type Logger, type RestClient } from '../../runtime/index.js';
import type { NetworkDriver, ObjectRef, VmNetworkObservation, VmNetworkSpec } from '../driver.js';
import { planRemoval, planTemplate, type AddressRequest, type DefaultNetworkRef } from './annotations.js';
import { observeVm } from './observe.js';

/** Which network OVN-Kubernetes attaches the VM's pod interface to. */
export type OvnKubeNetwork =
  /** The cluster default network: OVN-Kubernetes honours a requested MAC and allocates the IP itself. */
  | 'default'
  /** A primary layer2 user-defined network: OVN-Kubernetes honours both the requested IP and MAC. */
  | 'primary-udn';

export interface OvnKubeDriverOptions {
  /** The infra cluster's API (where the VMs run). */
  client: RestClient;
  /** OVN-Kubernetes' default NetworkAttachmentDefinition (default `ovn-kubernetes/default`). */
  defaultNetwork?: DefaultNetworkRef;
  /** Default `default`. */
  network?: OvnKubeNetwork;
  /**
   * Put `ips` in the request even on the default network, where OVN-Kubernetes ignores it (default:
   * only on a primary UDN, so the template never asks for what will not be given).
   */
  requestIpOnDefaultNetwork?: boolean;
  /** Field manager for the VM patches. */
  fieldManager?: string;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

export interface OvnKubeDriverStats {
  /** VM template patches sent (ensure and remove). */
  vmPatches: number;
  /** Reads of the API server (VM, VMI, pod lists). */
  reads: number;
  /** Patches refused because the VM changed since it was read (then planned again). */
  conflicts: number;
}

const MAX_ATTEMPTS = 5;

export const OVN_KUBERNETES_DEFAULT_NETWORK: DefaultNetworkRef = {
  namespace: 'ovn-kubernetes',
  name: 'default',
};

export class OvnKubeDriver implements NetworkDriver {
  readonly name = 'ovnkube';
  readonly stats: OvnKubeDriverStats = { vmPatches: 0, reads: 0, conflicts: 0 };
  private readonly client: RestClient;
  private readonly network: DefaultNetworkRef;
  private readonly requestIps: boolean;
  private readonly fieldManager: string;
  private readonly log: Pick<Logger, 'info' | 'warn'> | undefined;

  constructor(opts: OvnKubeDriverOptions) {
    this.client = opts.client;
    this.network = opts.defaultNetwork ?? OVN_KUBERNETES_DEFAULT_NETWORK;
    this.requestIps = opts.network === 'primary-udn' || opts.requestIpOnDefaultNetwork === true;
    this.fieldManager = opts.fieldManager ?? 'capk-podnet';
    this.log = opts.logger;
  }

  /** Nothing to connect: every call reads the API server. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** The request this driver writes for `spec` (exposed for tests and status messages). */
  request(spec: Pick<VmNetworkSpec, 'ipv4' | 'prefixLength' | 'mac'>): AddressRequest {
    return {
      network: this.network,
      mac: spec.mac,
      ...(this.requestIps ? { ips: [`${spec.ipv4}/${spec.prefixLength}`] } : {}),
    };
  }

  async ensureVm(spec: VmNetworkSpec): Promise<VmNetworkObservation> {
    const { namespace, name } = spec.machine;
    for (let attempt = 1; ; attempt++) {
      // capk names the VM after the KubevirtMachine, in the machine's namespace.
      const vm = await this.read(() => this.client.tryGet<VirtualMachine>(VirtualMachines, name, namespace));
      if (!vm)
        return {
          programmed: false,
          portNodes: [],
          reason: 'VirtualMachineMissing',
          message: `VirtualMachine ${namespace}/${name} does not exist yet`,
        };
      const plan = planTemplate(vm.spec?.template?.metadata?.annotations, this.request(spec), namespace);
      if (!plan.ok) {
        const seen = await this.observe(spec);
        return { ...seen, programmed: false, reason: plan.reason, message: plan.message };
      }
      if (Object.keys(plan.annotations).length) {
        try {
          await this.patchTemplate(vm, plan.annotations);
        } catch (e) {
          // Someone (capk, the webhook, a person) changed the VM since the read: plan again.
          if (isConflict(e) && attempt < MAX_ATTEMPTS) {
            this.stats.conflicts++;
            continue;
          }
          throw e;
        }
      }
      return this.observe(spec);
    }
  }

  /** What OVN-Kubernetes shows for the VM now, without writing. */
  async observe(spec: VmNetworkSpec): Promise<VmNetworkObservation> {
    const { namespace, name } = spec.machine;
    const vmi = await this.read(() =>
      this.client.tryGet<VirtualMachineInstance>(VirtualMachineInstances, name, namespace),
    );
    if (!vmi) return observeVm(spec, undefined, []);
    const pods = await this.read(() =>
      this.client.list<Pod>(Pods, {
        namespace,
        labelSelector: `${KubevirtLabels.app}=${KubevirtLabels.appLauncher},${KubevirtLabels.createdBy}=${vmi.metadata.uid}`,
      }),
    );
    return observeVm(spec, vmi, pods.items);
  }

  /**
   * Takes the address request off the VM if it is still there: the machine's IP goes back to the
   * pool, and a later machine given the same IP would ask for the same MAC. The live-migration
   * opt-in stays (the admission webhook's, and harmless). OVN-Kubernetes frees its own ports.
   */
  async removeVm(machine: ObjectRef): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const vm = await this.read(() =>
        this.client.tryGet<VirtualMachine>(VirtualMachines, machine.name, machine.namespace),
      );
      if (!vm || vm.metadata.deletionTimestamp) return;
      const changes = planRemoval(vm.spec?.template?.metadata?.annotations, this.network, machine.namespace);
      if (!Object.keys(changes).length) return;
      try {
        return await this.patchTemplate(vm, changes);
      } catch (e) {
        if (!isConflict(e) || attempt >= MAX_ATTEMPTS) throw e;
        this.stats.conflicts++;
      }
    }
  }

  /**
   * Nothing to sweep: the driver keeps no state of its own. Its only writes are annotations on VM
   * templates, which go with the VMs (capk deletes a machine's VM), and OVN-Kubernetes removes its
   * ports and releases its IPs when the pods go.
   */
  async sweep(_live: ReadonlySet<string>): Promise<number> {
    return 0;
  }

  private async patchTemplate(vm: VirtualMachine, annotations: Record<string, string | null>): Promise<void> {
    const ns = vm.metadata.namespace!;
    try {
      // The resourceVersion makes it a compare-and-swap: a VM changed since the read fails with
      // 409, and the controller's next reconcile plans again from the new VM.
      await this.client.patch(
        VirtualMachines,
        vm.metadata.name,
        ns,
        {
          metadata: { resourceVersion: vm.metadata.resourceVersion },
          spec: { template: { metadata: { annotations } } },
        },
        { fieldManager: this.fieldManager },
      );
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    this.stats.vmPatches++;
    this.log?.info('ovnkube driver: VM template annotations set (apply at the next VM start)', {
      vm: `${ns}/${vm.metadata.name}`,
      annotations: Object.keys(annotations),
    });
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    this.stats.reads++;
    return fn();
  }
}
