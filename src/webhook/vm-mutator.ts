// Shapes capk's VirtualMachines at admission, so that no VM ever starts without its stable MAC,
// bridge binding and live-migration opt-in: capk creates the VM from the KubevirtMachine's template
// at a moment of its choosing, and a controller patching afterwards would race the first boot.
// Until the machine has an address (and so a MAC), creation is refused; capk retries.
import { KubevirtMachines, type KubevirtMachine } from '../capk/resources.js';
import { machineNetworkSpec } from '../api/network.js';
import { claimLeftByEarlierMachine, macForIPv4 } from '../controllers/machine-network/desired.js';
import { IPAddresses, IPAddressClaims, type IPAddress, type IPAddressClaim } from '../ipam/index.js';
import type { VirtualMachine } from '../kubevirt/resources.js';
import type { Informer, Manager } from '../runtime/index.js';
import type { AdmissionHandler } from './server.js';
import { shapeVirtualMachine, VmShapeError } from './shape-vm.js';

/** capk's labels on the VMs it creates, naming their KubevirtMachine. */
export const CapkMachineLabels = {
  name: 'capk.cluster.x-k8s.io/kubevirt-machine-name',
  namespace: 'capk.cluster.x-k8s.io/kubevirt-machine-namespace',
} as const;

export const VM_MUTATE_PATH = '/mutate-kubevirt-io-v1-virtualmachine';

export interface MachineMacSource {
  machines: Informer<KubevirtMachine>;
  claims: Informer<IPAddressClaim>;
  addresses: Informer<IPAddress>;
}

export function machineMacSource(mgr: Manager): MachineMacSource {
  return {
    machines: mgr.informer<KubevirtMachine>(KubevirtMachines),
    claims: mgr.informer<IPAddressClaim>(IPAddressClaims),
    addresses: mgr.informer<IPAddress>(IPAddresses),
  };
}

/** The machine's stable MAC: pinned, or derived from its bound address; undefined while unbound. */
export function machineMac(src: MachineMacSource, namespace: string, name: string): string | undefined {
  const machine = src.machines.get({ namespace, name });
  if (!machine) return undefined;
  const pinned = machineNetworkSpec.safeParse(machine.spec?.network ?? {});
  if (pinned.success && pinned.data.mac) return pinned.data.mac;
  if (machine.status?.network?.mac) return machine.status.network.mac;
  const claim = src.claims.get({ namespace, name });
  const addrName =
    claim && !claimLeftByEarlierMachine(claim, machine) ? claim.status?.addressRef?.name : undefined;
  const address = addrName ? src.addresses.get({ namespace, name: addrName }) : undefined;
  return address ? macForIPv4(address.spec.address) : undefined;
}

export function virtualMachineMutator(src: MachineMacSource): AdmissionHandler {
  return async (req) => {
    const vm = req.object as VirtualMachine | undefined;
    const machineName = vm?.metadata.labels?.[CapkMachineLabels.name];
    if (!vm || !machineName) return { allowed: true };
    const namespace =
      vm.metadata.labels?.[CapkMachineLabels.namespace] ?? req.namespace ?? vm.metadata.namespace!;
    const mac = machineMac(src, namespace, machineName);
    if (!mac) {
      if (req.operation === 'CREATE')
        return {
          allowed: false,
          code: 409,
          message: `capk-podnet: KubevirtMachine ${namespace}/${machineName} has no stable address yet; the VM is created once its IPAddressClaim is bound`,
        };
      return {
        allowed: true,
        warnings: [`capk-podnet: no stable address for ${namespace}/${machineName} yet`],
      };
    }
    try {
      return { allowed: true, patch: shapeVirtualMachine(vm, mac) };
    } catch (e) {
      if (!(e instanceof VmShapeError)) throw e;
      // Refuse a new VM that would lose its IP; never block capk's later updates of a running one.
      if (req.operation === 'CREATE')
        return { allowed: false, code: 422, message: `capk-podnet: ${e.message}` };
      return { allowed: true, warnings: [`capk-podnet: ${e.message}`] };
    }
  };
}
