// The simulator against a real kube-apiserver with KubeVirt's generated CRDs: VM → VMI → pod,
// restarts, run strategies, deletion without a garbage collector.
import * as k8s from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { KubevirtSimulator } from './index.js';
import type { VirtualMachine, VirtualMachineInstance } from './types.js';
import { WatchRecorder, kubevirtPath, phaseSequence, podsPath, virtualMachine } from './testing.js';

const kc = testKubeConfig();
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const core = kc.makeApiClient(k8s.CoreV1Api);
const kv = (namespace: string, plural: string) => ({
  group: 'kubevirt.io',
  version: 'v1',
  namespace,
  plural,
});

describe('KubevirtSimulator: VM lifecycle', () => {
  const sim = new KubevirtSimulator();
  let ns: string;
  let vmis: WatchRecorder<VirtualMachineInstance>;
  let pods: WatchRecorder<V1Pod>;
  let vms: WatchRecorder<VirtualMachine>;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'kvsim-life');
    vmis = await WatchRecorder.start(kc, kubevirtPath(ns, 'virtualmachineinstances'));
    vms = await WatchRecorder.start(kc, kubevirtPath(ns, 'virtualmachines'));
    pods = await WatchRecorder.start(kc, podsPath(ns));
    await sim.start(kc, {
      namespace: ns,
      nodes: 3,
      network: {
        podIPs: (pod) => [`10.128.0.${(pod.metadata!.name!.length % 200) + 10}`],
        guest: ({ vmi, iface }) =>
          iface.name === 'default' ? { ips: [`10.200.0.${vmi.metadata.name!.length}`] } : undefined,
      },
    });
  });

  afterAll(async () => {
    await sim.stop();
    for (const r of [vmis, pods, vms]) r?.stop();
  });

  const runningVmi = (name: string, notUid?: string) =>
    vmis.until(`VMI ${name} Running`, (r) => {
      const v = r.latest(name);
      return v?.status?.phase === 'Running' && v.metadata.uid !== notUid && v;
    });

  it('registers ready nodes labelled with their hostname', async () => {
    for (const name of sim.nodeNamesList) {
      const node: V1Node = await core.readNode({ name });
      expect(node.metadata?.labels?.['kubernetes.io/hostname']).toBe(name);
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.addresses?.some((a) => a.type === 'InternalIP')).toBe(true);
    }
  });

  it('turns a VirtualMachine into a VMI and a bound, running virt-launcher pod', async () => {
    const mac = '02:00:00:aa:bb:01';
    await custom.createNamespacedCustomObject({
      ...kv(ns, 'virtualmachines'),
      body: virtualMachine(ns, 'alpha', {
        labels: { 'cluster.x-k8s.io/role': 'worker', app: 'alpha' },
        annotations: {
          'kubevirt.io/allow-pod-bridge-network-live-migration': '',
          'example.com/note': 'kept',
          'kubectl.kubernetes.io/last-applied-configuration': '{}',
        },
        interfaces: [{ name: 'default', bridge: {}, macAddress: mac }],
      }),
    });
    const vmi = await runningVmi('alpha');
    const vm = vms.latest('alpha')!;

    expect(vmi.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'VirtualMachine',
        name: 'alpha',
        uid: vm.metadata.uid,
        controller: true,
      }),
    ]);
    expect(vmi.metadata.labels).toMatchObject({ 'cluster.x-k8s.io/role': 'worker', app: 'alpha' });
    expect(vmi.metadata.annotations).toMatchObject({ 'example.com/note': 'kept' });
    expect(vmi.metadata.finalizers).toEqual(
      expect.arrayContaining([
        'kubevirt.io/foregroundDeleteVirtualMachine',
        'kubevirt.io/virtualMachineControllerFinalize',
      ]),
    );
    // Phases as virt-controller and virt-handler write them, seen by an independent watch.
    expect(
      phaseSequence(vmis.events.filter((e) => e.obj.metadata.name === 'alpha').map((e) => e.obj)),
    ).toEqual(['Pending', 'Scheduling', 'Scheduled', 'Running']);
    expect(vmi.status?.phaseTransitionTimestamps?.map((t) => t.phase)).toEqual([
      'Pending',
      'Scheduling',
      'Scheduled',
      'Running',
    ]);
    const node = vmi.status!.nodeName!;
    expect(sim.nodeNamesList).toContain(node);
    expect(vmi.metadata.labels?.['kubevirt.io/nodeName']).toBe(node);
    expect(vmi.status?.interfaces).toEqual([
      expect.objectContaining({ name: 'default', mac, ipAddress: '10.200.0.5', ipAddresses: ['10.200.0.5'] }),
    ]);
    expect(vmi.status?.conditions?.find((c) => c.type === 'LiveMigratable')?.status).toBe('True');
    expect(vmi.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');

    const pod = await pods.until('launcher pod labelled with its node', (r) =>
      r
        .all()
        .find((p) => p.metadata?.labels?.['kubevirt.io/nodeName'] === node && p.status?.phase === 'Running'),
    );
    expect(pod.metadata!.name).toMatch(/^virt-launcher-alpha-[a-z0-9]{5}$/);
    expect(pod.metadata!.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'VirtualMachineInstance',
        name: 'alpha',
        uid: vmi.metadata.uid,
        controller: true,
      }),
    ]);
    expect(pod.metadata!.labels).toMatchObject({
      'kubevirt.io': 'virt-launcher',
      'kubevirt.io/created-by': vmi.metadata.uid,
      'vm.kubevirt.io/name': 'alpha',
      'vmi.kubevirt.io/id': 'alpha',
      'cluster.x-k8s.io/role': 'worker',
      app: 'alpha',
    });
    expect(pod.metadata!.annotations).toMatchObject({
      'kubevirt.io/domain': 'alpha',
      'kubevirt.io/allow-pod-bridge-network-live-migration': '',
      'example.com/note': 'kept',
    });
    expect(pod.metadata!.annotations).not.toHaveProperty([
      'kubectl.kubernetes.io/last-applied-configuration',
    ]);
    expect(pod.spec!.nodeName).toBe(node);
    expect(pod.spec!.readinessGates).toEqual([{ conditionType: 'kubevirt.io/virtual-machine-unpaused' }]);
    expect(pod.status!.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(pod.status!.podIP).toMatch(/^10\.128\.0\./);
    expect(vmi.status?.activePods).toEqual({ [pod.metadata!.uid!]: node });

    const readyVm = await vms.until('VM ready', (r) => r.latest('alpha')?.status?.ready && r.latest('alpha'));
    expect(readyVm.status).toMatchObject({ created: true, ready: true, printableStatus: 'Running' });
  });

  it('defaults a VM without interfaces to bridge on the pod network, not live-migratable', async () => {
    await custom.createNamespacedCustomObject({
      ...kv(ns, 'virtualmachines'),
      body: virtualMachine(ns, 'plain'),
    });
    const vmi = await runningVmi('plain');
    expect(vmi.spec.domain.devices.interfaces).toEqual([{ name: 'default', bridge: {} }]);
    expect(vmi.spec.networks).toEqual([{ name: 'default', pod: {} }]);
    expect(vmi.status?.conditions?.find((c) => c.type === 'LiveMigratable')).toMatchObject({
      status: 'False',
      reason: 'InterfaceNotLiveMigratable',
    });
    // Spread: the second VM does not land beside the first.
    expect(vmi.status?.nodeName).not.toBe(vmis.latest('alpha')?.status?.nodeName);
  });

  it('restarts a VM: the VMI is recreated with a new launcher pod, the old pod is gone', async () => {
    const before = vmis.latest('alpha')!;
    const oldPods = pods
      .all()
      .filter((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === before.metadata.uid);
    expect(oldPods).toHaveLength(1);
    await sim.restartVm(ns, 'alpha');
    const after = await runningVmi('alpha', before.metadata.uid);
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
    await pods.until('old launcher pod deleted', (r) => !r.latest(oldPods[0]!.metadata!.name!));
    const newPods = pods
      .all()
      .filter((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === after.metadata.uid);
    expect(newPods).toHaveLength(1);
    expect(newPods[0]!.metadata!.name).not.toBe(oldPods[0]!.metadata!.name);
    const vm = await vms.until('state change requests consumed', (r) => {
      const v = r.latest('alpha');
      return v && !v.status?.stateChangeRequests?.length && v.status?.ready && v;
    });
    expect(vm.status?.printableStatus).toBe('Running');
  });

  it('runStrategy Manual starts and stops only on request; Halted stops', async () => {
    await custom.createNamespacedCustomObject({
      ...kv(ns, 'virtualmachines'),
      body: virtualMachine(ns, 'manual', { runStrategy: 'Manual' }),
    });
    await vms.until('Manual VM reconciled', (r) => r.latest('manual')?.status?.printableStatus === 'Stopped');
    expect(vmis.latest('manual')).toBeUndefined();

    await sim.startVm(ns, 'manual');
    const vmi = await runningVmi('manual');
    await sim.stopVm(ns, 'manual');
    await vmis.until('manual VMI gone', (r) => !r.latest('manual'));
    await pods.until('manual pods gone', (r) =>
      r.all().every((p) => p.metadata?.labels?.['kubevirt.io/created-by'] !== vmi.metadata.uid),
    );

    // Halted: flipping an Always VM stops it.
    const plain = vmis.latest('plain')!;
    const vm = (await custom.getNamespacedCustomObject({
      ...kv(ns, 'virtualmachines'),
      name: 'plain',
    })) as VirtualMachine;
    vm.spec.runStrategy = 'Halted';
    await custom.replaceNamespacedCustomObject({ ...kv(ns, 'virtualmachines'), name: 'plain', body: vm });
    await vmis.until('plain VMI gone', (r) => !r.latest('plain'));
    await vms.until('plain Stopped', (r) => r.latest('plain')?.status?.printableStatus === 'Stopped');
    expect(
      pods.all().filter((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === plain.metadata.uid),
    ).toEqual([]);
  });

  it('restarts a VMI whose launcher pod is deleted (runStrategy Always)', async () => {
    const before = vmis.latest('alpha')!;
    const pod = pods
      .all()
      .find((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === before.metadata.uid)!;
    await core.deleteNamespacedPod({ namespace: ns, name: pod.metadata!.name! });
    await vmis.until('VMI failed', (r) =>
      r.events.some((e) => e.obj.metadata.uid === before.metadata.uid && e.obj.status?.phase === 'Failed'),
    );
    const after = await runningVmi('alpha', before.metadata.uid);
    expect(after.metadata.uid).not.toBe(before.metadata.uid);
  });

  it('deleting a VM deletes its VMI and pods and drops every finalizer', async () => {
    const vmi = vmis.latest('alpha')!;
    await custom.deleteNamespacedCustomObject({ ...kv(ns, 'virtualmachines'), name: 'alpha' });
    await vms.until('VM gone', (r) => !r.latest('alpha'));
    await vmis.until('VMI gone', (r) => !r.latest('alpha'));
    await pods.until('pods gone', (r) =>
      r.all().every((p) => p.metadata?.labels?.['kubevirt.io/created-by'] !== vmi.metadata.uid),
    );
    const stored = await custom.listNamespacedCustomObject({ ...kv(ns, 'virtualmachineinstances') });
    expect(
      (stored as { items: unknown[] }).items.map((i) => (i as VirtualMachineInstance).metadata.name),
    ).not.toContain('alpha');
  });
});
