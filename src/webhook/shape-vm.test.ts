import { isShaped, shapeVirtualMachine, VmShapeError, type JsonPatchOp } from './shape-vm.js';
import type { VirtualMachine } from '../kubevirt/resources.js';

// Just enough RFC 6902 (add/replace) to read the result here; the integration test has the API
// server apply the same patches for real.
function applyJsonPatch(doc: unknown, ops: JsonPatchOp[]): unknown {
  const root = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent: Record<string, unknown> | unknown[] = root;
    for (const p of parts) parent = (parent as Record<string, unknown>)[p] as Record<string, unknown>;
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(op.value);
      else if (op.op === 'add') parent.splice(Number(last), 0, op.value);
      else parent[Number(last)] = op.value;
    } else parent[last] = op.value;
  }
  return root;
}

const MAC = '0a:58:0a:0a:00:05';
const vm = (spec: VirtualMachine['spec']): VirtualMachine => ({
  metadata: { name: 'm1', namespace: 'ns' },
  spec,
});

describe('shapeVirtualMachine', () => {
  it.each<[string, VirtualMachine['spec']]>([
    [
      'capk’s template: no interfaces, no networks',
      { runStrategy: 'Always', template: { spec: { domain: { devices: {} } } } },
    ],
    ['no template at all', {}],
    ['a template with other annotations', { template: { metadata: { annotations: { a: 'b' } }, spec: {} } }],
    [
      'an explicit pod network with its bridge interface',
      {
        template: {
          spec: {
            networks: [{ name: 'pod', pod: {} }],
            domain: { devices: { interfaces: [{ name: 'pod', bridge: {}, model: 'virtio' }] } },
          },
        },
      },
    ],
  ])('%s: becomes bridge + stable MAC + live-migration opt-in, and then needs nothing more', (_n, spec) => {
    const shaped = applyJsonPatch(vm(spec), shapeVirtualMachine(vm(spec), MAC)) as VirtualMachine;
    const t = shaped.spec!.template!;
    expect(t.metadata?.annotations?.['kubevirt.io/allow-pod-bridge-network-live-migration']).toBe('');
    const net = t.spec!.networks!.find((n) => n.pod !== undefined)!;
    expect(t.spec!.domain!.devices!.interfaces!.find((i) => i.name === net.name)).toMatchObject({
      bridge: {},
      macAddress: MAC,
    });
    expect(shapeVirtualMachine(shaped, MAC)).toEqual([]);
    expect(isShaped(shaped, MAC)).toBe(true);
  });

  it('keeps what the user set on the interface', () => {
    const spec = {
      template: {
        spec: {
          networks: [{ name: 'default', pod: {} }],
          domain: { devices: { interfaces: [{ name: 'default', model: 'e1000' }] } },
        },
      },
    };
    const shaped = applyJsonPatch(vm(spec), shapeVirtualMachine(vm(spec), MAC)) as VirtualMachine;
    expect(shaped.spec!.template!.spec!.domain!.devices!.interfaces![0]).toEqual({
      name: 'default',
      model: 'e1000',
      bridge: {},
      macAddress: MAC,
    });
  });

  it.each<[string, VirtualMachine['spec'], RegExp]>([
    [
      'masquerade binding',
      {
        template: {
          spec: {
            networks: [{ name: 'default', pod: {} }],
            domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } },
          },
        },
      },
      /masquerade binding/,
    ],
    [
      'another MAC pinned',
      {
        template: {
          spec: {
            networks: [{ name: 'default', pod: {} }],
            domain: {
              devices: { interfaces: [{ name: 'default', bridge: {}, macAddress: '02:00:00:00:00:01' }] },
            },
          },
        },
      },
      /pins MAC 02:00:00:00:00:01/,
    ],
    [
      'a multus default network',
      { template: { spec: { networks: [{ name: 'x', multus: { networkName: 'n', default: true } }] } } },
      /multus default network/,
    ],
  ])('refuses a VM with a %s', (_n, spec, why) => {
    expect(() => shapeVirtualMachine(vm(spec), MAC)).toThrow(VmShapeError);
    expect(() => shapeVirtualMachine(vm(spec), MAC)).toThrow(why);
    expect(isShaped(vm(spec), MAC)).toBe(false);
  });
});
