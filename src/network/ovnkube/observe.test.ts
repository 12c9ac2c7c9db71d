import type { Pod, VirtualMachineInstance } from '../../kubevirt/resources.js';
import type { VmNetworkSpec } from '../driver.js';
import {
  entryIps,
  parseDefaultNetwork,
  parsePodNetworks,
  planRemoval,
  planTemplate,
  primaryEntry,
} from './annotations.js';
import { activePod, observeVm } from './observe.js';

const UID = 'vmi-uid-1';
const vmi = (nodeName: string): VirtualMachineInstance => ({
  metadata: { name: 'vm1', namespace: 'ns', uid: UID },
  status: { phase: 'Running', nodeName },
});

const nets = (ip: string, mac = '0a:58:0a:00:00:05') =>
  JSON.stringify({ default: { ip_addresses: [`${ip}/24`], mac_address: mac, role: 'primary' } });

const pod = (
  name: string,
  node: string,
  extra: { job?: string; phase?: string; ready?: boolean; networks?: string; uid?: string } = {},
): Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    labels: {
      'kubevirt.io': 'virt-launcher',
      'kubevirt.io/created-by': extra.uid ?? UID,
      ...(extra.job ? { 'kubevirt.io/migrationJobUID': extra.job } : {}),
    },
    annotations: {
      ...(extra.ready
        ? { 'kubevirt.io/migration-target-ready-timestamp': '2026-01-02 15:04:05 +0000 UTC' }
        : {}),
      ...(extra.networks ? { 'k8s.ovn.org/pod-networks': extra.networks } : {}),
    },
  },
  spec: { nodeName: node },
  status: { phase: extra.phase ?? 'Running' },
});

const spec: VmNetworkSpec = {
  cluster: { namespace: 'ns', name: 'c' },
  machine: { namespace: 'ns', name: 'vm1' },
  ipv4: '10.0.0.5',
  prefixLength: 24,
  mac: '0a:58:0a:00:00:05',
  hostname: 'vm1',
  gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
  dnsServers: [],
  placement: { kind: 'node', node: 'n1' },
};

describe('activePod', () => {
  it('follows the VMI node, a ready target, and never a Completed or foreign pod', () => {
    const src = pod('a', 'n1');
    const tgt = pod('b', 'n2', { job: 'j' });
    expect(activePod(vmi('n1'), [src, tgt])?.metadata.name).toBe('a');
    const ready = pod('b', 'n2', { job: 'j', ready: true });
    expect(activePod(vmi('n1'), [src, ready])?.metadata.name).toBe('b');
    // A failed migration after hand-off: the target ended Completed, the VMI stays on n1.
    expect(activePod(vmi('n1'), [src, pod('b', 'n2', { job: 'j', ready: true, phase: 'Succeeded' })])).toBe(
      src,
    );
    // A pod of an earlier VMI (restart) on the same node does not count.
    expect(activePod(vmi('n1'), [pod('old', 'n1', { uid: 'other' })])).toBeUndefined();
  });
});

describe('observeVm', () => {
  it.each([
    ['the claimed IP and MAC', [pod('a', 'n1', { networks: nets('10.0.0.5') })], { programmed: true }],
    ['no annotation yet', [pod('a', 'n1')], { programmed: false, reason: 'PodNetworkPending' }],
    ['broken JSON', [pod('a', 'n1', { networks: '{' })], { programmed: false, reason: 'InvalidPodNetworks' }],
    [
      'another IP',
      [pod('a', 'n1', { networks: nets('10.0.0.9') })],
      { programmed: false, reason: 'IPMismatch', message: expect.stringMatching(/10\.0\.0\.9.*10\.0\.0\.5/) },
    ],
    [
      'another MAC',
      [pod('a', 'n1', { networks: nets('10.0.0.5', '0a:58:0a:00:00:99') })],
      { programmed: false, reason: 'MACMismatch' },
    ],
    [
      'a migration target given another IP',
      [
        pod('a', 'n1', { networks: nets('10.0.0.5') }),
        pod('b', 'n2', { job: 'j', networks: nets('10.0.0.7') }),
      ],
      { programmed: false, reason: 'IPMismatch', routedTo: 'n1', portNodes: ['n1', 'n2'] },
    ],
  ])('%s', (_what, pods, want) => {
    expect(observeVm(spec, vmi('n1'), pods)).toMatchObject(want);
  });

  it('is Unscheduled without a VMI or a placement', () => {
    expect(observeVm(spec, undefined, [])).toMatchObject({ programmed: false, reason: 'Unscheduled' });
    expect(
      observeVm({ ...spec, placement: { kind: 'unscheduled' } }, vmi('n1'), [pod('a', 'n1')]),
    ).toMatchObject({ reason: 'Unscheduled' });
  });
});

describe('pod-networks and default-network annotations', () => {
  it('reads the primary entry by role, else the default key, and the deprecated single IP', () => {
    const udn = parsePodNetworks(
      JSON.stringify({
        default: { ip_addresses: ['10.128.0.5/24'], mac_address: 'x', role: 'infrastructure-locked' },
        'ns/l2': { ip_addresses: ['10.0.0.5/24'], mac_address: 'y', role: 'primary' },
      }),
    );
    expect(udn?.ok && primaryEntry(udn.value)?.key).toBe('ns/l2');
    const old = parsePodNetworks(
      JSON.stringify({ default: { ip_address: '10.0.0.5/24', mac_address: 'm' } }),
    );
    expect(old?.ok && entryIps(primaryEntry(old.value)!.entry)).toEqual(['10.0.0.5']);
    expect(parsePodNetworks(JSON.stringify({ default: { ip_addresses: [] } }))).toMatchObject({ ok: false });
  });

  it('parses the list, object and short forms of the default-network selection', () => {
    expect(parseDefaultNetwork('[{"name":"default","namespace":"ovn-kubernetes"}]', 'ns')).toMatchObject({
      ok: true,
      value: { name: 'default', namespace: 'ovn-kubernetes' },
    });
    expect(parseDefaultNetwork('{"name":"n"}', 'ns')).toMatchObject({
      value: { name: 'n', namespace: 'ns' },
    });
    expect(parseDefaultNetwork('a/b', 'ns')).toMatchObject({ value: { name: 'b', namespace: 'a' } });
    expect(parseDefaultNetwork('[{"name":"a"},{"name":"b"}]', 'ns')).toMatchObject({ ok: false });
  });

  it('plans a replacement for a stale request of ours and nothing for a matching one', () => {
    const net = { namespace: 'ovn-kubernetes', name: 'default' };
    const req = { network: net, mac: '0a:58:0a:00:00:05', ips: ['10.0.0.5/24'] };
    const stale = '[{"name":"default","namespace":"ovn-kubernetes","mac":"0a:58:0a:00:00:04"}]';
    const plan = planTemplate(
      {
        'kubevirt.io/allow-pod-bridge-network-live-migration': '',
        'v1.multus-cni.io/default-network': stale,
      },
      req,
      'ns',
    );
    expect(plan).toEqual({
      ok: true,
      annotations: {
        'v1.multus-cni.io/default-network':
          '[{"name":"default","namespace":"ovn-kubernetes","mac":"0a:58:0a:00:00:05","ips":["10.0.0.5/24"]}]',
      },
    });
    // Same request, other spelling (object form, upper-case MAC): nothing to write.
    const same =
      '{"namespace":"ovn-kubernetes","name":"default","ips":["10.0.0.5/24"],"mac":"0A:58:0A:00:00:05"}';
    expect(
      planTemplate(
        {
          'kubevirt.io/allow-pod-bridge-network-live-migration': 'true',
          'v1.multus-cni.io/default-network': same,
        },
        req,
        'ns',
      ),
    ).toEqual({ ok: true, annotations: {} });
    expect(planRemoval({ 'v1.multus-cni.io/default-network': same }, net, 'ns')).toEqual({
      'v1.multus-cni.io/default-network': null,
    });
    expect(planRemoval({ 'v1.multus-cni.io/default-network': 'x/y' }, net, 'ns')).toEqual({});
  });
});
