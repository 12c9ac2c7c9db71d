import { clusterNetworkSpec, withDefaults } from './network.js';
import {
  checkNodePorts,
  checkPinnedIp,
  checkServiceCidrs,
  readClusterNetwork,
  readMachineNetwork,
} from './validate.js';
import { NetworkReasons } from './conditions.js';

const infra = { clusterDnsIP: '10.96.0.10', podNetworkMtu: 1400 };

test('withDefaults applies the CRD defaults and the infra cluster ones, in one place', () => {
  expect(
    withDefaults(
      { ipam: { cidrs: ['10.200.0.0/24'] }, services: [{ name: 'a', ports: [{ port: 80 }] }] },
      infra,
    ),
  ).toEqual({
    ipam: { cidrs: ['10.200.0.0/24'] },
    gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
    isolation: { mode: 'Strict' },
    dnsServers: ['10.96.0.10'],
    mtu: 1400,
    services: [
      {
        name: 'a',
        type: 'ClusterIP',
        role: 'worker',
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      },
    ],
  });
  const own = withDefaults({ ipam: { cidrs: ['10.200.0.0/24'] }, dnsServers: ['1.1.1.1'], mtu: 9000 }, infra);
  expect([own.dnsServers, own.mtu, own.services]).toEqual([['1.1.1.1'], 9000, []]);
  expect(() => withDefaults({ ipam: {} }, infra)).toThrow('exactly one of cidrs and poolRef');
});

const cluster = clusterNetworkSpec.parse({
  ipam: { cidrs: ['10.200.0.0/24'] },
  services: [
    {
      name: 'np',
      type: 'NodePort',
      ports: [
        { name: 'a', port: 80, nodePort: 30080 },
        { name: 'b', port: 81, nodePort: 40000 },
      ],
    },
  ],
});

test.each([
  ['10.200.0.10', []],
  ['10.201.0.10', [NetworkReasons.PinnedIPOutsidePool]],
  ['10.200.0.0', [NetworkReasons.PinnedIPReserved]],
  ['10.200.0.255', [NetworkReasons.PinnedIPReserved]],
])('pinned IP %s against pool 10.200.0.0/24', (ipv4, reasons) => {
  const problems = checkPinnedIp({ ipv4 }, cluster);
  expect(problems.map((p) => p.reason)).toEqual(reasons);
  for (const p of problems) expect(p.message).toContain('spec.network.ipv4');
});

test('pinned IP with a poolRef is the IPAM provider’s to check', () => {
  const viaPool = clusterNetworkSpec.parse({ ipam: { poolRef: { apiGroup: 'g', kind: 'K', name: 'n' } } });
  expect(checkPinnedIp({ ipv4: '192.0.2.1' }, viaPool)).toEqual([]);
});

test('pool overlapping the service CIDR', () => {
  expect(checkServiceCidrs(cluster, ['10.96.0.0/12'])).toEqual([]);
  const [p, ...rest] = checkServiceCidrs(cluster, ['10.96.0.0/12', '10.200.0.128/25']);
  expect(rest).toEqual([]);
  expect(p).toMatchObject({
    field: 'spec.network.ipam.cidrs[0]',
    reason: NetworkReasons.PoolOverlapsServiceCIDR,
  });
  expect(p?.message).toContain('10.200.0.128/25');
});

test('node ports outside the infra range', () => {
  expect(checkNodePorts(cluster)).toEqual([
    expect.objectContaining({
      field: 'spec.network.services[0].ports[1].nodePort',
      reason: NetworkReasons.NodePortOutOfRange,
    }),
  ]);
  expect(checkNodePorts(cluster, { min: 30000, max: 40000 })).toEqual([]);
});

test('readClusterNetwork / readMachineNetwork: the edge for API objects', () => {
  expect(readClusterNetwork({ spec: {} })).toEqual({ ok: true, network: undefined });
  const ok = readClusterNetwork({ spec: { network: { ipam: { cidrs: ['10.200.0.0/24'] } } } });
  expect(ok.ok && ok.network?.gateway.ipv4).toBe('169.254.1.1');
  const bad = readClusterNetwork({
    spec: {
      network: { ipam: { cidrs: ['10.200.0.0/24'] }, services: [{ name: 'a', ports: [{ port: 0 }] }] },
    },
  });
  expect(bad).toEqual({
    ok: false,
    problems: [
      expect.objectContaining({
        field: 'spec.network.services[0].ports[0].port',
        reason: NetworkReasons.InvalidSpec,
      }),
    ],
  });
  expect(readMachineNetwork({ spec: { network: { mac: 'x' } } })).toMatchObject({
    ok: false,
    problems: [{ field: 'spec.network.mac' }],
  });
});
