// What a tenant node VM needs before its first start to keep its network across live migrations:
// a bridge-bound interface on the pod network carrying the stable MAC, and KubeVirt's opt-in
// annotation for bridge live migration (OVN-Kubernetes and KubeVirt both read it from the pod).
// Pure: the VM in, RFC 6902 operations out; no operation when the VM is already shaped.
import { KubevirtAnnotations, type VirtualMachine, type VmInterface } from '../kubevirt/resources.js';

export interface JsonPatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

const escape = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

const OTHER_BINDINGS = ['masquerade', 'sriov', 'slirp', 'passt', 'binding'] as const;

/** Thrown for a VM whose network cannot be shaped without overriding the user's intent. */
export class VmShapeError extends Error {}

export function shapeVirtualMachine(vm: VirtualMachine, mac: string): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const template = vm.spec?.template;
  if (!template) {
    ops.push({ op: 'add', path: '/spec/template', value: {} });
  }
  const annotations = template?.metadata?.annotations;
  if (!template?.metadata) {
    ops.push({
      op: 'add',
      path: '/spec/template/metadata',
      value: { annotations: { [KubevirtAnnotations.allowPodBridgeLiveMigration]: '' } },
    });
  } else if (!annotations) {
    ops.push({
      op: 'add',
      path: '/spec/template/metadata/annotations',
      value: { [KubevirtAnnotations.allowPodBridgeLiveMigration]: '' },
    });
  } else if (annotations[KubevirtAnnotations.allowPodBridgeLiveMigration] === undefined) {
    ops.push({
      op: 'add',
      path: `/spec/template/metadata/annotations/${escape(KubevirtAnnotations.allowPodBridgeLiveMigration)}`,
      value: '',
    });
  }

  const spec = template?.spec;
  const networks = spec?.networks ?? [];
  const podNetwork = networks.find((n) => n.pod !== undefined);
  if (networks.some((n) => n.multus !== undefined && (n.multus as { default?: boolean }).default))
    throw new VmShapeError(
      'a multus default network replaces the pod network; capk-podnet needs the pod network',
    );
  const netName = podNetwork?.name ?? 'default';
  if (!spec) ops.push({ op: 'add', path: '/spec/template/spec', value: {} });
  if (!podNetwork) {
    if (!spec?.networks) ops.push({ op: 'add', path: '/spec/template/spec/networks', value: [] });
    ops.push({ op: 'add', path: '/spec/template/spec/networks/-', value: { name: netName, pod: {} } });
  }

  const interfaces = spec?.domain?.devices?.interfaces ?? [];
  const index = interfaces.findIndex((i) => i.name === netName);
  if (index < 0) {
    const wanted: VmInterface = { name: netName, bridge: {}, macAddress: mac };
    if (!spec?.domain) ops.push({ op: 'add', path: '/spec/template/spec/domain', value: { devices: {} } });
    else if (!spec.domain.devices)
      ops.push({ op: 'add', path: '/spec/template/spec/domain/devices', value: {} });
    if (!spec?.domain?.devices?.interfaces)
      ops.push({ op: 'add', path: '/spec/template/spec/domain/devices/interfaces', value: [] });
    // The pod network's interface first: the guest's first NIC is the one DHCP answers.
    ops.push({ op: 'add', path: '/spec/template/spec/domain/devices/interfaces/0', value: wanted });
  } else {
    const current = interfaces[index]!;
    const other = OTHER_BINDINGS.find((b) => current[b] !== undefined);
    if (other)
      throw new VmShapeError(
        `interface ${netName} uses the ${other} binding; a stable IP needs the bridge binding`,
      );
    if (current.macAddress && current.macAddress !== mac)
      throw new VmShapeError(
        `interface ${netName} pins MAC ${current.macAddress}; the machine's stable MAC is ${mac}`,
      );
    const path = `/spec/template/spec/domain/devices/interfaces/${index}`;
    if (current.bridge === undefined) ops.push({ op: 'add', path: `${path}/bridge`, value: {} });
    if (current.macAddress === undefined) ops.push({ op: 'add', path: `${path}/macAddress`, value: mac });
  }
  return ops;
}

/** True when the VM already has what shapeVirtualMachine would add. */
export function isShaped(vm: VirtualMachine, mac: string): boolean {
  try {
    return shapeVirtualMachine(vm, mac).length === 0;
  } catch {
    return false;
  }
}
