// The OVN driver against a real NB + ovn-northd, proved by ovn-trace on the logical flows northd
// built: the shared gateway answers ARP on every node switch, DHCP offers the VM its IP and routes,
// pods on other nodes reach the VM's port on the node that runs it now, and the VM's traffic leaves
// through that node, before, during and after a live migration, and after a failed one.
import { OvnCentral } from '../env/ovn-central.js';
import { OvnDriver } from '../../src/network/ovn/index.js';
import type { Placement, VmNetworkSpec } from '../../src/network/driver.js';
import { waitFor } from '../env/processes.js';
import { addNode, buildTopology, GATEWAY, removeNode, type TestNode } from './topology.js';
import {
  arpRequest,
  gatewayRouters,
  dhcpDiscover,
  outputs,
  syncTraceNeighbours,
  tcpTo,
  type L2,
} from './trace.js';

const cluster = { namespace: 'tenant-a', name: 'cluster-a' };
const machine = { namespace: 'tenant-a', name: 'worker-0' };
const VM = { ip: '10.244.100.5', mac: '02:00:0a:f4:64:05' };
const EXTERNAL = '198.51.100.7';

function spec(placement: Placement): VmNetworkSpec {
  return {
    cluster,
    machine,
    ipv4: VM.ip,
    prefixLength: 24,
    mac: VM.mac,
    hostname: 'worker-0',
    gateway: GATEWAY,
    mtu: 1400,
    dnsServers: ['10.96.0.10', '10.96.0.11'],
    placement,
  };
}

const vmPort = (node: string) => `capk_tenant-a_worker-0_${node}`;
const vmOn = (node: string): L2 => ({ port: vmPort(node), mac: VM.mac, ip: VM.ip });
const podOf = (n: TestNode): L2 => ({ port: n.pod.name, mac: n.pod.mac, ip: n.pod.ip });

describe('OVN driver: ovn-trace proves the datapath design', () => {
  let ovn: OvnCentral;
  let driver: OvnDriver;
  let nodes: TestNode[];
  let a: TestNode, b: TestNode, c: TestNode;

  beforeAll(async () => {
    ovn = await OvnCentral.start();
    nodes = await buildTopology(ovn, ['node-a', 'node-b', 'node-c']);
    [a, b, c] = nodes as [TestNode, TestNode, TestNode];
    driver = new OvnDriver({ nbRemotes: ovn.nbRemote });
    await driver.start();
  });
  afterAll(async () => {
    await driver?.stop();
    await ovn?.stop();
  });

  async function trace(dp: string, flow: string, detailed = false): Promise<string> {
    return ovn.trace(dp, flow, '--ct=new', '--ct=new', '--ct=new', detailed ? '--detailed' : '--minimal');
  }

  /** Every check of "the VM is served at `node`", from the traces. */
  async function expectServedAt(node: TestNode): Promise<void> {
    await syncTraceNeighbours(ovn);
    const vm = vmOn(node.name);

    const arp = await trace(node.name, arpRequest(vm, GATEWAY.ipv4));
    expect(outputs(arp)).toEqual([vm.port]);
    expect(arp).toContain(`arp.sha = ${GATEWAY.mac}`);
    expect(arp).toContain(`eth.src = ${GATEWAY.mac}`);

    // … and on every node switch, from the pod there.
    for (const n of nodes) {
      const t = await trace(n.name, arpRequest(podOf(n), GATEWAY.ipv4));
      expect({ node: n.name, out: outputs(t) }).toEqual({ node: n.name, out: [n.pod.name] });
      expect(t).toContain(`arp.sha = ${GATEWAY.mac}`);
    }

    const offer = await trace(node.name, dhcpDiscover(vm));
    const opts = /put_dhcp_opts\((.*)\);/.exec(offer)?.[1] ?? '';
    expect(opts).toContain(`offerip = ${VM.ip}`);
    expect(opts).toContain('netmask = 255.255.255.255');
    expect(opts).toContain('router = 169.254.1.1');
    expect(opts).toContain('classless_static_route = {169.254.1.1/32, 0.0.0.0, 0.0.0.0/0, 169.254.1.1}');
    expect(opts).toContain('dns_server = {10.96.0.10, 10.96.0.11}');
    expect(opts).toContain('hostname = "worker-0"');
    expect(opts).toContain('mtu = 1400');
    expect(opts).toContain('server_id = 169.254.1.1');
    expect(outputs(offer)).toEqual([vm.port]);
    expect(offer).toContain(`eth.src = ${GATEWAY.mac}`);

    // From a pod on every node (its own included) to the VM: delivered to the port on `node`.
    for (const n of nodes) {
      const t = await trace(n.name, tcpTo(podOf(n), GATEWAY.mac, VM.ip));
      expect({ from: n.name, out: outputs(t) }).toEqual({ from: n.name, out: [vm.port] });
      expect(t).toContain(`eth.dst = ${VM.mac}`);
    }
    // The VM's reply to a pod on another node leaves from its port on `node` and arrives.
    const other = nodes.find((n) => n !== node)!;
    const reply = await trace(node.name, tcpTo(vm, GATEWAY.mac, other.pod.ip, 22, 40000));
    expect(outputs(reply)).toEqual([other.pod.name]);
    // Egress out of the cluster is rerouted to `node`'s gateway router, and no other.
    const egress = await trace(node.name, tcpTo(vm, GATEWAY.mac, EXTERNAL, 22, 40000), true);
    expect(gatewayRouters(egress)).toEqual([`GR_${node.name}`]);
  }

  async function phase(p: Placement) {
    const before = driver.stats.transactions;
    const obs = await driver.ensureVm(spec(p));
    return { obs, transactions: driver.stats.transactions - before };
  }

  it('without the driver the VM is not served (the checks can fail)', async () => {
    await syncTraceNeighbours(ovn);
    await expect(expectServedAt(a)).rejects.toThrow();
  });

  it('answers ARP for the gateway with the shared MAC on every node switch', async () => {
    await driver.ensureGateways(
      nodes.map((n) => n.name),
      GATEWAY,
    );
    await ovn.syncSb();
    for (const n of nodes) {
      const t = await trace(n.name, arpRequest(podOf(n), GATEWAY.ipv4));
      expect({ node: n.name, out: outputs(t) }).toEqual({ node: n.name, out: [n.pod.name] });
      expect(t).toContain(`arp.sha = ${GATEWAY.mac}`);
    }
    expect(driver.gatewayForm).toBe('shared-router-mac'); // this machine's OVN 23.03
  });

  it('serves a VM on the node that runs it', async () => {
    const { obs, transactions } = await phase({ kind: 'node', node: 'node-a' });
    expect(obs).toEqual({
      programmed: true,
      portNodes: ['node-a'],
      routedTo: 'node-a',
      committedAtMs: expect.any(Number),
    });
    expect(transactions).toBe(1);
    await expectServedAt(a);
  });

  it('hands over a live migration a → b in one transaction per phase', async () => {
    const mig = { kind: 'migrating', source: 'node-a', target: 'node-b', migrationId: 'm1' } as const;

    const created = await phase({ ...mig, phase: 'target-created' });
    expect(created.transactions).toBe(1);
    expect(created.obs).toMatchObject({ portNodes: ['node-a', 'node-b'], routedTo: 'node-a' });
    // Routes still at the source; the target port already answers ARP and DHCP.
    await expectServedAt(a);
    const vmB = vmOn('node-b');
    expect(outputs(await trace('node-b', arpRequest(vmB, GATEWAY.ipv4)))).toEqual([vmB.port]);
    expect(await trace('node-b', dhcpDiscover(vmB))).toContain(`offerip = ${VM.ip}`);

    const ready = await phase({ ...mig, phase: 'target-ready' });
    expect(ready.transactions).toBe(1);
    expect(ready.obs).toMatchObject({ portNodes: ['node-a', 'node-b'], routedTo: 'node-b' });
    await expectServedAt(b);

    const done = await phase({ ...mig, phase: 'completed' });
    expect(done.transactions).toBe(1);
    expect(done.obs).toEqual({
      programmed: true,
      portNodes: ['node-b'],
      routedTo: 'node-b',
      committedAtMs: expect.any(Number),
    });
    await expectServedAt(b);
    expect(
      await ovn.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch_Port', `name=${vmPort('node-a')}`),
    ).toBe('');

    // The migration's end state is a plain placement: nothing to write.
    expect((await phase({ kind: 'node', node: 'node-b' })).transactions).toBe(0);
  });

  it('rolls a failed migration back to the source', async () => {
    const mig = { kind: 'migrating', source: 'node-b', target: 'node-c', migrationId: 'm2' } as const;
    await phase({ ...mig, phase: 'target-created' });
    const ready = await phase({ ...mig, phase: 'target-ready' });
    expect(ready.obs.routedTo).toBe('node-c');
    await expectServedAt(c);

    const failed = await phase({ ...mig, phase: 'failed' });
    expect(failed.transactions).toBe(1);
    expect(failed.obs).toEqual({
      programmed: true,
      portNodes: ['node-b'],
      routedTo: 'node-b',
      committedAtMs: expect.any(Number),
    });
    await expectServedAt(b);
  });
});

describe('OVN driver: multi-chassis handover (one port, requested-chassis + activation-strategy=rarp)', () => {
  let ovn: OvnCentral;
  let driver: OvnDriver;
  let nodes: TestNode[];
  const port = vmPort('node-a');

  beforeAll(async () => {
    ovn = await OvnCentral.start();
    nodes = await buildTopology(ovn, ['node-a', 'node-b']);
    driver = new OvnDriver({
      nbRemotes: ovn.nbRemote,
      migration: 'multi-chassis',
      chassisOf: (n) => `chassis-${n}`,
    });
    await driver.start();
    await driver.ensureGateways(
      nodes.map((n) => n.name),
      GATEWAY,
    );
  });
  afterAll(async () => {
    await driver?.stop();
    await ovn?.stop();
  });

  async function portOptions(): Promise<string> {
    return (await ovn.nbctl('get', 'Logical_Switch_Port', port, 'options')).trim();
  }
  /** Pods on both nodes reach the one port; egress leaves through `runner`'s gateway router. */
  async function expectServed(runner: string): Promise<void> {
    await syncTraceNeighbours(ovn);
    for (const n of nodes)
      expect(outputs(await ovn.trace(n.name, tcpTo(podOf(n), GATEWAY.mac, VM.ip), '--minimal'))).toEqual([
        port,
      ]);
    const egress = await ovn.trace(
      'node-a',
      tcpTo(vmOn('node-a'), GATEWAY.mac, EXTERNAL, 22, 40000),
      '--detailed',
    );
    expect(gatewayRouters(egress)).toEqual([`GR_${runner}`]);
    const opts = /put_dhcp_opts\((.*)\);/.exec(
      await ovn.trace('node-a', dhcpDiscover(vmOn('node-a')), '--minimal'),
    )?.[1];
    expect(opts).toContain(`offerip = ${VM.ip}`);
  }

  it('keeps one port name through a migration; chassis and egress follow the VM', async () => {
    const mig = { kind: 'migrating', source: 'node-a', target: 'node-b', migrationId: 'm1' } as const;
    const steps: [Placement, string, string][] = [
      [{ kind: 'node', node: 'node-a' }, '{requested-chassis=chassis-node-a}', 'node-a'],
      [
        { ...mig, phase: 'target-created' },
        '{activation-strategy=rarp, requested-chassis="chassis-node-a,chassis-node-b"}',
        'node-a',
      ],
      [
        { ...mig, phase: 'target-ready' },
        '{activation-strategy=rarp, requested-chassis="chassis-node-a,chassis-node-b"}',
        'node-b',
      ],
      [{ ...mig, phase: 'completed' }, '{requested-chassis=chassis-node-b}', 'node-b'],
    ];
    for (const [placement, options, runner] of steps) {
      const before = driver.stats.transactions;
      const obs = await driver.ensureVm(spec(placement));
      expect(driver.stats.transactions - before).toBe(1);
      expect(obs.routedTo).toBe(runner);
      expect(await portOptions()).toBe(options);
      const ours = (
        await ovn.nbctl(
          '--bare',
          '--columns=name',
          'find',
          'Logical_Switch_Port',
          'external_ids:capk-podnet/kind=port',
        )
      ).trim();
      expect(ours).toBe(port);
      await expectServed(runner);
    }
  });

  it('moves the port to the node the VM runs on when the node it was first created on leaves', async () => {
    // After the migration above the VM runs on node-b; its one port is still on node-a's switch.
    await driver.ensureVm(spec({ kind: 'node', node: 'node-b' }));
    const [a, b] = nodes as [TestNode, TestNode];
    await removeNode(ovn, a);
    // Deleting the switch deleted the port with it: the driver restores it where the VM is.
    const moved = vmPort('node-b');
    await waitFor(
      'the port on node-b',
      async () => ((await ovn.nbctl('lsp-get-ls', moved)).includes('(node-b)') ? true : undefined),
      10_000,
    );
    expect((await driver.observe(machine)).programmed).toBe(true);
    await syncTraceNeighbours(ovn);
    expect(outputs(await ovn.trace('node-b', tcpTo(podOf(b), GATEWAY.mac, VM.ip), '--minimal'))).toEqual([
      moved,
    ]);
    expect(await ovn.nbctl('get', 'Logical_Switch_Port', moved, 'options')).toContain(
      'requested-chassis=chassis-node-b',
    );
    // The router's neighbour entry for the VM went with node-a's router port, not left behind.
    expect(
      (await ovn.nbctl('--bare', '--columns=logical_port', 'find', 'Static_MAC_Binding', `ip=${VM.ip}`))
        .split('\n')
        .filter(Boolean),
    ).toEqual([`rtos-${b.name}`]);
    // Egress still leaves through the gateway router of the node the VM runs on. The pool's egress
    // route keeps node-a's join IP as next hop: it still resolves through the join switch, and the
    // VM's north policy reroutes after routing, so the departed node is never used.
    const egress = await ovn.trace(
      'node-b',
      tcpTo(vmOn('node-b'), GATEWAY.mac, EXTERNAL, 22, 40000),
      '--detailed',
    );
    expect(gatewayRouters(egress)).toEqual(['GR_node-b']);
  });
});

describe('OVN driver: the arp_proxy forms OVN 23.03 accepts', () => {
  let ovn: OvnCentral;
  let nodes: TestNode[];
  beforeAll(async () => {
    ovn = await OvnCentral.start();
    nodes = await buildTopology(ovn, ['node-a', 'node-b']);
  });
  afterAll(async () => {
    await ovn?.stop();
  });

  async function gatewayAnswers(): Promise<string[][]> {
    await ovn.syncSb();
    const out: string[][] = [];
    for (const n of nodes) {
      const t = await ovn.trace(n.name, arpRequest(podOf(n), GATEWAY.ipv4), '--minimal');
      out.push(t.includes(`arp.sha = ${GATEWAY.mac}`) ? outputs(t) : []);
    }
    return out;
  }

  it('IP-only arp_proxy with the shared MAC on every rtos port answers; the MAC form does not on 23.03', async () => {
    const macForm = new OvnDriver({ nbRemotes: ovn.nbRemote, arpProxy: 'mac-and-ip' });
    await macForm.start();
    try {
      await macForm.ensureGateways(
        nodes.map((n) => n.name),
        GATEWAY,
      );
    } finally {
      await macForm.stop();
    }
    expect(await ovn.nbctl('get', 'Logical_Switch_Port', 'stor-node-a', 'options:arp_proxy')).toContain(
      `${GATEWAY.mac} ${GATEWAY.ipv4}`,
    );
    // 23.03 ignores "MAC IP": no responder, the ARP goes unanswered.
    expect(await gatewayAnswers()).toEqual([[], []]);

    const auto = new OvnDriver({ nbRemotes: ovn.nbRemote });
    await auto.start();
    try {
      expect(auto.gatewayForm).toBe('shared-router-mac');
      // The MAC form left in place would still be ignored; start from what OVN-K could have: none on
      // node-a, an IP of its own on node-b (the list form: the driver adds its IP, keeps the other).
      await ovn.nbctl('remove', 'Logical_Switch_Port', 'stor-node-a', 'options', 'arp_proxy');
      await ovn.nbctl('set', 'Logical_Switch_Port', 'stor-node-b', 'options:arp_proxy=169.254.169.254');
      await auto.ensureGateways(
        nodes.map((n) => n.name),
        GATEWAY,
      );
    } finally {
      await auto.stop();
    }
    expect(await gatewayAnswers()).toEqual(nodes.map((n) => [n.pod.name]));
    for (const n of nodes) {
      expect((await ovn.nbctl('get', 'Logical_Router_Port', `rtos-${n.name}`, 'mac')).trim()).toBe(
        `"${GATEWAY.mac}"`,
      );
      // What was changed on OVN-K's rows is recorded on them.
      expect(await ovn.nbctl('get', 'Logical_Router_Port', `rtos-${n.name}`, 'external_ids')).toContain(
        `"capk-podnet/gateway-original-mac"="${n.routerMac}"`,
      );
    }
    expect((await ovn.nbctl('get', 'Logical_Switch_Port', 'stor-node-a', 'options:arp_proxy')).trim()).toBe(
      `"${GATEWAY.ipv4}"`,
    );
    expect((await ovn.nbctl('get', 'Logical_Switch_Port', 'stor-node-b', 'options:arp_proxy')).trim()).toBe(
      `"169.254.169.254 ${GATEWAY.ipv4}"`,
    );
    // Both IPs of the list answer on node-b, with the shared MAC.
    const other = await ovn.trace('node-b', arpRequest(podOf(nodes[1]!), '169.254.169.254'), '--minimal');
    expect(other).toContain(`arp.sha = ${GATEWAY.mac}`);
    expect(outputs(other)).toEqual([nodes[1]!.pod.name]);
  });
});

describe('OVN driver: the gateway on every node, ahead of any VM (gatewayOnEveryNode)', () => {
  let ovn: OvnCentral;
  let driver: OvnDriver;
  beforeAll(async () => {
    ovn = await OvnCentral.start();
  });
  afterAll(async () => {
    await driver?.stop();
    await ovn?.stop();
  });

  async function answersGateway(n: TestNode): Promise<boolean> {
    await ovn.syncSb();
    const t = await ovn.trace(n.name, arpRequest(podOf(n), GATEWAY.ipv4), '--minimal');
    return t.includes(`arp.sha = ${GATEWAY.mac}`) && outputs(t).includes(n.pod.name);
  }

  it('sets it up on every node switch at start and on a node that joins later, with no VM', async () => {
    const nodes = await buildTopology(ovn, ['node-a', 'node-b']);
    driver = new OvnDriver({ nbRemotes: ovn.nbRemote, gatewayOnEveryNode: GATEWAY });
    await driver.start();
    await waitFor(
      'the gateway on both nodes',
      async () => ((await Promise.all(nodes.map(answersGateway))).every(Boolean) ? true : undefined),
      10_000,
    );
    expect(driver.nodeSwitches()).toEqual(['node-a', 'node-b']);

    const joined = await addNode(ovn, 'node-c', 3);
    await waitFor(
      'the gateway on the node that joined',
      async () => ((await answersGateway(joined)) ? true : undefined),
      10_000,
    );
    expect(driver.nodeSwitches()).toEqual(['node-a', 'node-b', 'node-c']);
    // No VM was ever given: the driver owns no VM rows.
    expect(await ovn.nbctl('--bare', '--columns=external_ids', 'list', 'Logical_Switch_Port')).not.toContain(
      'capk-podnet/machine',
    );
  }, 30_000);
});

describe('OVN driver: a VM pool outside the infra cluster network (the template default)', () => {
  let ovn: OvnCentral;
  let driver: OvnDriver;
  let nodes: TestNode[];
  const vms = [
    { name: 'w-0', ip: '10.100.0.5', mac: '0a:58:0a:64:00:05', node: 'node-a' },
    { name: 'w-1', ip: '10.100.0.6', mac: '0a:58:0a:64:00:06', node: 'node-b' },
  ];
  const port = (v: (typeof vms)[number]): L2 => ({
    port: `capk_tenant-a_${v.name}_${v.node}`,
    mac: v.mac,
    ip: v.ip,
  });
  beforeAll(async () => {
    ovn = await OvnCentral.start();
    nodes = await buildTopology(ovn, ['node-a', 'node-b']);
    driver = new OvnDriver({ nbRemotes: ovn.nbRemote });
    await driver.start();
    for (const v of vms) {
      await driver.ensureVm({
        ...spec({ kind: 'node', node: v.node }),
        machine: { namespace: 'tenant-a', name: v.name },
        hostname: v.name,
        ipv4: v.ip,
        mac: v.mac,
      });
    }
    await syncTraceNeighbours(ovn);
  });
  afterAll(async () => {
    await driver?.stop();
    await ovn?.stop();
  });

  const trace = (dp: string, flow: string, detailed = false) =>
    ovn.trace(dp, flow, '--ct=new', '--ct=new', '--ct=new', detailed ? '--detailed' : '--minimal');
  const gatewayRoutersOn = async (dp: string, flow: string) => gatewayRouters(await trace(dp, flow, true));

  it('routes pods ↔ VMs and VM ↔ VM directly, and only egress through the node gateway router', async () => {
    const [w0, w1] = vms.map(port) as [L2, L2];
    const podB = nodes[1]!;
    const toVm = await trace(podB.name, tcpTo(podOf(podB), GATEWAY.mac, w0.ip));
    expect(outputs(toVm)).toEqual([w0.port]);
    // The reply to a pod on another node: straight to the pod, through no gateway router.
    const reply = tcpTo(w0, GATEWAY.mac, podB.pod.ip, 22, 40000);
    expect(outputs(await trace('node-a', reply))).toEqual([podB.pod.name]);
    expect(await gatewayRoutersOn('node-a', reply)).toEqual([]);
    // Another VM of the same tenant cluster, on another node.
    const vmToVm = tcpTo(w0, GATEWAY.mac, w1.ip, 22, 40000);
    expect(outputs(await trace('node-a', vmToVm))).toEqual([w1.port]);
    expect(await gatewayRoutersOn('node-a', vmToVm)).toEqual([]);
    // Out of the cluster: the gateway router of the VM's node.
    expect(await gatewayRoutersOn('node-a', tcpTo(w0, GATEWAY.mac, EXTERNAL, 22, 40000))).toEqual([
      'GR_node-a',
    ]);
  }, 30_000);

  it("a node joining: the pool's one allow policy gains its subnet in one transaction, no VM re-synced", async () => {
    const [w0] = vms.map(port) as [L2, L2];
    const before = { transactions: driver.stats.transactions, restores: driver.stats.restores };
    const joined = await addNode(ovn, 'node-c', 3);
    const policies = async () =>
      (
        await ovn.nbctl(
          '--bare',
          '--columns=match',
          'find',
          'Logical_Router_Policy',
          'external_ids:capk-podnet/kind=pool-allow',
        )
      )
        .split('\n')
        .filter(Boolean);
    await waitFor(
      "node-c's subnet in the pool's allow policy",
      async () => ((await policies()).some((m) => m.includes('10.244.3.0/24')) ? true : undefined),
      10_000,
    );
    expect(await policies()).toEqual([
      'ip4.src == 10.100.0.0/24 && ip4.dst == {10.100.0.0/24, 10.244.1.0/24, 10.244.2.0/24, 10.244.3.0/24}',
    ]);
    expect(driver.stats.transactions - before.transactions).toBe(1);
    expect(driver.stats.restores).toBe(before.restores);
    // A VM's reply to a pod on the new node goes straight there, through no gateway router.
    const reply = tcpTo(w0, GATEWAY.mac, joined.pod.ip, 22, 40000);
    expect(outputs(await trace('node-a', reply))).toEqual([joined.pod.name]);
    expect(await gatewayRoutersOn('node-a', reply)).toEqual([]);
  }, 30_000);
});
