// Table tests of the pure half of the driver: spec → desired NB rows.
import type { Placement, VmNetworkSpec } from '../driver.js';
import { arpProxyFormFor, resolveConfig } from './config.js';
import {
  composeArpProxy,
  composeDhcpOptions,
  composeVm,
  networkOf,
  placementNodes,
  type TopologyView,
} from './compose.js';

const cfg = resolveConfig({ nbRemotes: 'unix:/nowhere' });
const topo: TopologyView = {
  hasNodeSwitch: (n) => ['n1', 'n2', 'n3'].includes(n),
  northNexthop: (n) => ({ n1: '100.64.0.2', n2: '100.64.0.3' })[n],
  nodeSubnets: () => ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'],
};

function spec(placement: Placement, over: Partial<VmNetworkSpec> = {}): VmNetworkSpec {
  return {
    cluster: { namespace: 'ns', name: 'c1' },
    machine: { namespace: 'ns', name: 'm1' },
    ipv4: '10.244.100.5',
    prefixLength: 24,
    mac: '02:00:0a:f4:64:05',
    hostname: 'm1',
    gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
    dnsServers: ['10.96.0.10'],
    placement,
    ...over,
  };
}

const mig = (phase: 'target-created' | 'target-ready' | 'completed' | 'failed'): Placement => ({
  kind: 'migrating',
  source: 'n1',
  target: 'n2',
  phase,
  migrationId: 'x',
});

describe('placementNodes', () => {
  it.each<[string, Placement, string[], string | undefined]>([
    ['unscheduled', { kind: 'unscheduled' }, [], undefined],
    ['on a node', { kind: 'node', node: 'n1' }, ['n1'], 'n1'],
    ['target created: both ports, routes at the source', mig('target-created'), ['n1', 'n2'], 'n1'],
    ['target ready: both ports, routes at the target', mig('target-ready'), ['n1', 'n2'], 'n2'],
    ['completed: target only', mig('completed'), ['n2'], 'n2'],
    ['failed: back to the source', mig('failed'), ['n1'], 'n1'],
  ])('%s', (_, p, ports, routed) => {
    expect(placementNodes(p)).toEqual(
      routed === undefined ? { portNodes: ports } : { portNodes: ports, routedTo: routed },
    );
  });
});

describe('composeDhcpOptions', () => {
  it('answers with the /32, the gateway as router and server, an on-link route to it, and quotes the hostname', () => {
    const d = composeDhcpOptions(spec({ kind: 'node', node: 'n1' }, { mtu: 1400, leaseSeconds: 600 }), cfg);
    expect(d.cidr).toBe('10.244.100.5/32');
    expect(d.options).toEqual({
      lease_time: '600',
      router: '169.254.1.1',
      server_id: '169.254.1.1',
      server_mac: '0a:58:a9:fe:01:01',
      hostname: '"m1"',
      classless_static_route: '{169.254.1.1/32,0.0.0.0, 0.0.0.0/0,169.254.1.1}',
      mtu: '1400',
      dns_server: '{10.96.0.10}',
    });
    expect(d.externalIds).toEqual({
      'capk-podnet/owner': 'ns/c1',
      'capk-podnet/machine': 'ns/m1',
      'capk-podnet/kind': 'dhcp',
    });
  });

  it.each<[string, Partial<VmNetworkSpec>, 'host' | 'pool', string, Record<string, string | undefined>]>([
    ['default lease, no mtu', {}, 'host', '10.244.100.5/32', { lease_time: '3500', mtu: undefined }],
    ['no DNS servers: no option', { dnsServers: [] }, 'host', '10.244.100.5/32', { dns_server: undefined }],
    [
      'two DNS servers',
      { dnsServers: ['1.1.1.1', '8.8.8.8'] },
      'host',
      '10.244.100.5/32',
      { dns_server: '{1.1.1.1, 8.8.8.8}' },
    ],
    ['pool cidr', { prefixLength: 22 }, 'pool', '10.244.100.0/22', {}],
  ])('%s', (_, over, dhcpCidr, cidr, options) => {
    const d = composeDhcpOptions(spec({ kind: 'node', node: 'n1' }, over), { ...cfg, dhcpCidr });
    expect(d.cidr).toBe(cidr);
    for (const [k, v] of Object.entries(options)) expect(d.options[k]).toBe(v);
  });
});

describe('composeVm', () => {
  it('on one node: a port there, the /32 and egress policy through it, a neighbour on its router port', () => {
    const r = composeVm(spec({ kind: 'node', node: 'n1' }), cfg, topo);
    if (!r.ok) throw new Error(r.message);
    const vm = r.vm;
    expect(vm.ports).toEqual([
      {
        name: 'capk_ns_m1_n1',
        node: 'n1',
        switchName: 'n1',
        addresses: ['02:00:0a:f4:64:05 10.244.100.5'],
        portSecurity: ['02:00:0a:f4:64:05 10.244.100.5'],
        options: {},
        externalIds: {
          'capk-podnet/owner': 'ns/c1',
          'capk-podnet/machine': 'ns/m1',
          'capk-podnet/kind': 'port',
          'capk-podnet/node': 'n1',
          'capk-podnet/neighbour': 'rtos-n1 10.244.100.5',
        },
      },
    ]);
    expect(vm.south).toMatchObject({
      ipPrefix: '10.244.100.5/32',
      nexthop: '10.244.100.5',
      outputPort: 'rtos-n1',
    });
    // Egress only: pods' node subnets and the tenant's own pool are routed directly.
    expect(vm.north).toMatchObject({
      priority: 10,
      match: 'ip4.src == 10.244.100.5',
      action: 'reroute',
      nexthop: '100.64.0.2',
    });
    // Above it, the pool's policy lets pods' node subnets and the pool itself be routed directly.
    expect(vm.poolPolicy).toEqual({
      priority: 11,
      match:
        'ip4.src == 10.244.100.0/24 && ip4.dst == {10.244.1.0/24, 10.244.100.0/24, 10.244.2.0/24, 10.244.3.0/24}',
      action: 'allow',
      externalIds: {
        'capk-podnet/owner': 'ns/c1',
        'capk-podnet/kind': 'pool-allow',
        'capk-podnet/pool': '10.244.100.0/24',
      },
    });
    expect(vm.egress).toMatchObject({
      ipPrefix: '10.244.100.0/24',
      externalIds: { 'capk-podnet/kind': 'egress' },
    });
    expect(vm.egress!.externalIds).not.toHaveProperty('capk-podnet/machine');
    expect(vm.neighbours).toEqual([{ logicalPort: 'rtos-n1', ip: '10.244.100.5', mac: '02:00:0a:f4:64:05' }]);
    expect(vm.routedTo).toBe('n1');
  });

  it.each<[string, Placement, string[], string]>([
    ['target created', mig('target-created'), ['capk_ns_m1_n1', 'capk_ns_m1_n2'], 'rtos-n1'],
    ['target ready', mig('target-ready'), ['capk_ns_m1_n1', 'capk_ns_m1_n2'], 'rtos-n2'],
    ['completed', mig('completed'), ['capk_ns_m1_n2'], 'rtos-n2'],
    ['failed', mig('failed'), ['capk_ns_m1_n1'], 'rtos-n1'],
  ])('migration %s: ports %j, south via %s, neighbours on every port node', (_, p, ports, out) => {
    const r = composeVm(spec(p), cfg, topo);
    if (!r.ok) throw new Error(r.message);
    expect(r.vm.ports.map((x) => x.name)).toEqual(ports);
    expect(r.vm.south?.outputPort).toBe(out);
    expect(r.vm.neighbours.map((n) => n.logicalPort)).toEqual(ports.map((x) => `rtos-${x.slice(-2)}`));
    // Same MAC, IP and DHCP on both sides.
    expect(new Set(r.vm.ports.map((x) => x.addresses[0]))).toEqual(
      new Set(['02:00:0a:f4:64:05 10.244.100.5']),
    );
  });

  describe('multi-chassis: one port for the VM, requested on the chassis that run it', () => {
    const mc = { ...cfg, migration: 'multi-chassis' as const, chassisOf: (n: string) => `ch-${n}` };
    it.each<[string, Placement, string | undefined, Record<string, string>, string, string]>([
      [
        'first placement',
        { kind: 'node', node: 'n1' },
        undefined,
        { 'requested-chassis': 'ch-n1' },
        'rtos-n1',
        '100.64.0.2',
      ],
      [
        'target created',
        mig('target-created'),
        'n1',
        { 'requested-chassis': 'ch-n1,ch-n2', 'activation-strategy': 'rarp' },
        'rtos-n1',
        '100.64.0.2',
      ],
      [
        'target ready: egress flips, the port stays',
        mig('target-ready'),
        'n1',
        { 'requested-chassis': 'ch-n1,ch-n2', 'activation-strategy': 'rarp' },
        'rtos-n1',
        '100.64.0.3',
      ],
      ['completed', mig('completed'), 'n1', { 'requested-chassis': 'ch-n2' }, 'rtos-n1', '100.64.0.3'],
      ['failed', mig('failed'), 'n1', { 'requested-chassis': 'ch-n1' }, 'rtos-n1', '100.64.0.2'],
      [
        'later, anchored elsewhere',
        { kind: 'node', node: 'n1' },
        'n2',
        { 'requested-chassis': 'ch-n1' },
        'rtos-n2',
        '100.64.0.2',
      ],
    ])('%s', (_, p, anchor, options, south, north) => {
      const r = composeVm(spec(p), mc, { ...topo, portAnchor: () => anchor });
      if (!r.ok) throw new Error(r.message);
      expect(r.vm.ports).toHaveLength(1);
      expect(r.vm.ports[0]!.name).toBe(`capk_ns_m1_${anchor ?? 'n1'}`);
      expect(r.vm.ports[0]!.options).toEqual(options);
      expect(r.vm.south?.outputPort).toBe(south);
      expect(r.vm.north?.nexthop).toBe(north);
      expect(r.vm.neighbours.map((n) => n.logicalPort)).toEqual([south]);
    });

    it('without activation: both chassis receive for the whole migration', () => {
      const r = composeVm(
        spec(mig('target-created')),
        { ...mc, multiChassisActivation: 'none' },
        { ...topo, portAnchor: () => 'n1' },
      );
      if (!r.ok) throw new Error(r.message);
      expect(r.vm.ports[0]!.options).toEqual({ 'requested-chassis': 'ch-n1,ch-n2' });
    });
  });

  it('unscheduled: nothing at all', () => {
    const r = composeVm(spec({ kind: 'unscheduled' }), cfg, topo);
    expect(r).toEqual({ ok: true, vm: { machine: 'ns/m1', ports: [], neighbours: [], gatewayNodes: [] } });
  });

  it('north none: no policy and no pool egress route', () => {
    const r = composeVm(spec({ kind: 'node', node: 'n3' }), { ...cfg, north: 'none' }, topo);
    expect(r.ok && [r.vm.north, r.vm.egress, r.vm.south?.outputPort]).toEqual([
      undefined,
      undefined,
      'rtos-n3',
    ]);
  });

  it.each<[string, Partial<VmNetworkSpec>, Placement, string, boolean, RegExp]>([
    ['bad IP', { ipv4: '10.244.100.256' }, { kind: 'node', node: 'n1' }, 'InvalidSpec', false, /ipv4/],
    [
      'upper-case MAC',
      { mac: '02:00:0A:F4:64:05' },
      { kind: 'node', node: 'n1' },
      'InvalidSpec',
      false,
      /mac/,
    ],
    [
      'hostname with a quote',
      { hostname: 'm"1' },
      { kind: 'node', node: 'n1' },
      'InvalidSpec',
      false,
      /hostname/,
    ],
    [
      'DNS not an IP',
      { dnsServers: ['dns.local'] },
      { kind: 'node', node: 'n1' },
      'InvalidSpec',
      false,
      /dns/,
    ],
    ['mtu too small', { mtu: 100 }, { kind: 'node', node: 'n1' }, 'InvalidSpec', false, /mtu/],
    ['unknown node', {}, { kind: 'node', node: 'n9' }, 'NodeSwitchMissing', true, /n9/],
    [
      'unknown migration target',
      {},
      { ...mig('target-created'), target: 'n9' } as Placement,
      'NodeSwitchMissing',
      true,
      /n9/,
    ],
    [
      'node without a gateway router',
      {},
      { kind: 'node', node: 'n3' },
      'NodeGatewayMissing',
      true,
      /rtoj-GR_n3/,
    ],
  ])('%s → %s', (_, over, p, reason, retryable, message) => {
    const r = composeVm(spec(p, over), cfg, topo);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe(reason);
    expect(r.retryable).toBe(retryable);
    expect(r.message).toMatch(message);
  });
});

describe('composeArpProxy', () => {
  const gw = { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' };
  it.each<[string | undefined, 'mac-and-ip' | 'shared-router-mac', string, string[]]>([
    [undefined, 'shared-router-mac', '169.254.1.1', ['169.254.1.1']],
    ['169.254.1.1', 'shared-router-mac', '169.254.1.1', []],
    ['10.0.0.1', 'shared-router-mac', '10.0.0.1 169.254.1.1', ['169.254.1.1']],
    [undefined, 'mac-and-ip', '0a:58:a9:fe:01:01 169.254.1.1', ['0a:58:a9:fe:01:01', '169.254.1.1']],
    [
      '0a:58:a9:fe:01:01 169.254.1.1 10.244.0.0/16',
      'mac-and-ip',
      '0a:58:a9:fe:01:01 169.254.1.1 10.244.0.0/16',
      [],
    ],
    [
      '10.0.0.1',
      'mac-and-ip',
      '0a:58:a9:fe:01:01 10.0.0.1 169.254.1.1',
      ['0a:58:a9:fe:01:01', '169.254.1.1'],
    ],
  ])('%j in %s form → %j', (current, form, value, added) => {
    expect(composeArpProxy(current, gw, form)).toEqual({ value, added });
  });
});

describe('arpProxyFormFor (NB schema version → OVN release)', () => {
  it.each([
    ['6.3.0', 'shared-router-mac'],
    ['7.0.0', 'shared-router-mac'], // OVN 23.03
    ['7.0.4', 'mac-and-ip'],
    ['7.1.0', 'mac-and-ip'],
    ['7.3.0', 'mac-and-ip'],
    ['8.0.0', 'mac-and-ip'],
  ])('%s → %s', (v, form) => {
    expect(arpProxyFormFor(v)).toBe(form);
  });
});

describe('networkOf', () => {
  it.each([
    ['10.244.100.5', 24, '10.244.100.0/24'],
    ['10.244.103.200', 22, '10.244.100.0/22'],
    ['10.244.100.5', 32, '10.244.100.5/32'],
    ['192.168.7.9', 1, '128.0.0.0/1'],
  ])('%s/%d → %s', (ip, len, net) => {
    expect(networkOf(ip, len)).toBe(net);
  });
});
