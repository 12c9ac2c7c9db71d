// Live migration and node drain through the simulator, observed by independent watches on a
// real kube-apiserver with KubeVirt's generated CRDs.
import * as k8s from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { KubevirtSimulator, type MigrationContext } from './index.js';
import type { MigrationState, VirtualMachineInstance, VirtualMachineInstanceMigration } from './types.js';
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
const ALLOW = { 'kubevirt.io/allow-pod-bridge-network-live-migration': '' };
const GO_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/;

interface World {
  ns: string;
  vmis: WatchRecorder<VirtualMachineInstance>;
  vmims: WatchRecorder<VirtualMachineInstanceMigration>;
  pods: WatchRecorder<V1Pod>;
}

/** Holds a migration at the awaitTargetReady hook until released. */
class Gate {
  readonly arrived: Promise<MigrationContext>;
  private arrive!: (ctx: MigrationContext) => void;
  private readonly opened: Promise<void>;
  release!: () => void;

  constructor() {
    this.arrived = new Promise((r) => (this.arrive = r));
    this.opened = new Promise((r) => (this.release = r));
  }

  async pass(ctx: MigrationContext): Promise<void> {
    this.arrive(ctx);
    await this.opened;
  }
}

async function world(prefix: string): Promise<World> {
  const ns = await createTestNamespace(kc, prefix);
  return {
    ns,
    vmis: await WatchRecorder.start(kc, kubevirtPath(ns, 'virtualmachineinstances')),
    vmims: await WatchRecorder.start(kc, kubevirtPath(ns, 'virtualmachineinstancemigrations')),
    pods: await WatchRecorder.start(kc, podsPath(ns)),
  };
}

function stopWorld(w: World | undefined): void {
  for (const r of [w?.vmis, w?.vmims, w?.pods]) r?.stop();
}

async function createVm(w: World, name: string, shape: Parameters<typeof virtualMachine>[2] = {}) {
  await custom.createNamespacedCustomObject({
    ...kv(w.ns, 'virtualmachines'),
    body: virtualMachine(w.ns, name, {
      annotations: ALLOW,
      interfaces: [{ name: 'default', bridge: {}, macAddress: '02:00:00:00:00:01' }],
      ...shape,
    }),
  });
  return w.vmis.until(`VMI ${name} Running`, (r) => {
    const v = r.latest(name);
    return (
      v?.status?.phase === 'Running' && v.status.conditions?.some((c) => c.type === 'LiveMigratable') && v
    );
  });
}

async function migrate(w: World, vmiName: string, name: string): Promise<VirtualMachineInstanceMigration> {
  await custom.createNamespacedCustomObject({
    ...kv(w.ns, 'virtualmachineinstancemigrations'),
    body: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstanceMigration',
      metadata: { name },
      spec: { vmiName },
    },
  });
  return w.vmims.until(`VMIM ${name} final`, (r) => {
    const m = r.latest(name);
    return (m?.status?.phase === 'Succeeded' || m?.status?.phase === 'Failed') && m;
  });
}

const podsOfVmi = (w: World, vmi: VirtualMachineInstance) =>
  w.pods.all().filter((p) => p.metadata?.labels?.['kubevirt.io/created-by'] === vmi.metadata.uid);

describe('KubevirtSimulator: live migration', () => {
  const sim = new KubevirtSimulator();
  let w: World;
  let gate: Gate | undefined;
  const created: MigrationContext[] = [];

  beforeAll(async () => {
    w = await world('kvsim-mig');
    await sim.start(kc, {
      namespace: w.ns,
      nodes: 3,
      timing: { targetPendingTimeoutMs: 300 },
      hooks: {
        onTargetPodCreated: (ctx) => {
          created.push(ctx);
        },
        awaitTargetReady: async (ctx) => {
          const g = gate;
          gate = undefined;
          if (g) await g.pass(ctx);
        },
      },
    });
  });

  afterAll(async () => {
    await sim.stop();
    stopWorld(w);
  });

  it('runs the migration in KubeVirt order: target pod, hand-off, domain ready, cutover, source Completed', async () => {
    const vmi = await createVm(w, 'mover');
    const sourceNode = vmi.status!.nodeName!;
    const [sourcePod] = podsOfVmi(w, vmi);
    const gateCtl = (gate = new Gate());

    const done = migrate(w, 'mover', 'mig-1');
    try {
      const ctx = await gateCtl.arrived;
      // Held at the gate: PreparingTarget with the target pod running, and it stays there.
      await w.vmims.until('PreparingTarget', (r) => r.latest('mig-1')?.status?.phase === 'PreparingTarget');
      await new Promise((r) => setTimeout(r, 150));
      expect(w.vmims.latest('mig-1')?.status?.phase).toBe('PreparingTarget');
      expect(w.vmis.latest('mover')?.status?.migrationState?.targetNodeAddress).toBeUndefined();
      expect(w.pods.latest(ctx.targetPod.metadata!.name!)?.status?.phase).toBe('Running');
    } finally {
      gateCtl.release();
    }
    const mig = await done;
    expect(mig.status?.phase).toBe('Succeeded');

    // VMIM phases, in order, as an independent watch saw them.
    const migEvents = w.vmims.events.filter((e) => e.obj.metadata.name === 'mig-1').map((e) => e.obj);
    expect(phaseSequence(migEvents)).toEqual([
      'Pending',
      'Scheduling',
      'Scheduled',
      'PreparingTarget',
      'TargetReady',
      'Running',
      'Succeeded',
    ]);
    expect(mig.metadata.labels?.['kubevirt.io/vmi-name']).toBe('mover');
    expect(mig.status?.migrationState).toMatchObject({
      sourcePod: sourcePod!.metadata!.name,
      completed: true,
    });
    await w.vmims.until('finalizer dropped', (r) => !r.latest('mig-1')?.metadata.finalizers?.length);

    // The target pod: born with the job's label and name, and the source's node label value.
    expect(created).toHaveLength(1);
    const targetName = created[0]!.targetPod.metadata!.name!;
    const targetAdded = w.pods.events.find(
      (e) => e.type === 'ADDED' && e.obj.metadata!.name === targetName,
    )!.obj;
    expect(targetAdded.metadata!.labels).toMatchObject({
      'kubevirt.io/migrationJobUID': mig.metadata.uid,
      'kubevirt.io/nodeName': sourceNode,
      'kubevirt.io/created-by': vmi.metadata.uid,
    });
    expect(targetAdded.metadata!.annotations?.['kubevirt.io/migrationJobName']).toBe('mig-1');
    expect(targetAdded.metadata!.name).toMatch(/^virt-launcher-mover-/);

    // VMI migrationState fields appear in the handlers' order.
    const states = w.vmis.events
      .filter((e) => e.obj.metadata.uid === vmi.metadata.uid)
      .map((e) => e.obj.status?.migrationState)
      .filter((s): s is MigrationState => !!s);
    const firstIndex = (field: keyof MigrationState) => states.findIndex((s) => s[field] !== undefined);
    const order = [
      'targetPod',
      'targetNodeAddress',
      'startTimestamp',
      'targetNodeDomainDetected',
      'targetNodeDomainReadyTimestamp',
      'endTimestamp',
    ] as const;
    const indexes = order.map(firstIndex);
    expect(indexes.every((i) => i >= 0)).toBe(true);
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
    expect(new Set(indexes).size).toBe(indexes.length);

    const final = await w.vmis.until('VMI settled on target', (r) => {
      const v = r.latest('mover');
      return v?.status?.migrationState?.completed && v;
    });
    const targetNode = final.status!.migrationState!.targetNode!;
    expect(targetNode).not.toBe(sourceNode);
    expect(final.status!.migrationState).toMatchObject({
      migrationUid: mig.metadata.uid,
      sourceNode,
      sourcePod: sourcePod!.metadata!.name,
      targetPod: targetName,
      targetNodeDomainDetected: true,
      mode: 'PreCopy',
      completed: true,
    });
    expect(final.status!.migrationState!.failed).toBeUndefined();
    expect(final.status!.nodeName).toBe(targetNode);
    expect(final.metadata.labels?.['kubevirt.io/nodeName']).toBe(targetNode);
    expect(final.metadata.labels).not.toHaveProperty(['kubevirt.io/migrationTargetNodeName']);
    // The handoff labelled the VMI with the target node while it ran.
    expect(
      w.vmis.events.some(
        (e) => e.obj.metadata.labels?.['kubevirt.io/migrationTargetNodeName'] === targetNode,
      ),
    ).toBe(true);

    // Target pod: ready-timestamp annotation in Go's time.String() form, and the node label flipped.
    const target = await w.pods.until('target pod labelled with its node', (r) => {
      const p = r.latest(targetName);
      return p?.metadata?.labels?.['kubevirt.io/nodeName'] === targetNode && p;
    });
    const readyAnno = target.metadata!.annotations!['kubevirt.io/migration-target-ready-timestamp']!;
    expect(readyAnno).toMatch(GO_TIME);
    const readyTs = new Date(final.status!.migrationState!.targetNodeDomainReadyTimestamp!);
    expect(new Date(readyAnno.replace(' +0000 UTC', 'Z').replace(' ', 'T')).getTime()).toBe(
      readyTs.getTime(),
    );
    expect(target.spec!.nodeName).toBe(targetNode);

    // Source pod: Completed and kept; activePods lists both.
    const source = w.pods.latest(sourcePod!.metadata!.name!)!;
    expect(source.status?.phase).toBe('Succeeded');
    expect(source.status?.containerStatuses?.[0]?.state?.terminated?.reason).toBe('Completed');
    const active = await w.vmis.until('activePods lists both pods', (r) => {
      const a = r.latest('mover')?.status?.activePods ?? {};
      return Object.keys(a).length === 2 && a;
    });
    expect(active).toEqual({ [source.metadata!.uid!]: sourceNode, [target.metadata!.uid!]: targetNode });
  });

  it('fails a migration after hand-off: VMI stays on the source, target pod ends Completed', async () => {
    const vmi = await createVm(w, 'flaky');
    const sourceNode = vmi.status!.nodeName!;
    sim.failNextMigration(w.ns, 'flaky', { atPhase: 'Running', reason: 'injected: connection reset' });
    const mig = await migrate(w, 'flaky', 'mig-fail');
    expect(mig.status?.phase).toBe('Failed');
    expect(
      phaseSequence(w.vmims.events.filter((e) => e.obj.metadata.name === 'mig-fail').map((e) => e.obj)),
    ).toEqual(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Failed']);
    const after = w.vmis.latest('flaky')!;
    expect(after.status?.migrationState).toMatchObject({
      migrationUid: mig.metadata.uid,
      failed: true,
      completed: true,
      failureReason: 'injected: connection reset',
    });
    expect(after.status?.migrationState?.targetNodeDomainReadyTimestamp).toBeUndefined();
    expect(after.status?.nodeName).toBe(sourceNode);
    expect(after.metadata.labels?.['kubevirt.io/nodeName']).toBe(sourceNode);
    const target = w.pods.latest(after.status!.migrationState!.targetPod!)!;
    expect(target.status?.phase).toBe('Succeeded');
    expect(target.metadata!.annotations).not.toHaveProperty(['kubevirt.io/migration-target-ready-timestamp']);
    const source = w.pods.latest(after.status!.migrationState!.sourcePod!)!;
    expect(source.status?.phase).toBe('Running');
    expect(source.spec?.nodeName).toBe(sourceNode);
  });

  it('gives the next migration after a failed one a fresh record', async () => {
    // "flaky" failed above; KubeVirt replaces migrationState in PreparingTarget.
    const mig = await migrate(w, 'flaky', 'mig-after-fail');
    expect(mig.status?.phase).toBe('Succeeded');
    const state = w.vmis.latest('flaky')!.status!.migrationState!;
    expect(state).toMatchObject({ migrationUid: mig.metadata.uid, completed: true });
    expect(state.failed).toBeUndefined();
    expect(state.failureReason).toBeUndefined();
  });

  it('fails a migration before hand-off: the target pod is deleted, the VMI is untouched', async () => {
    const vmi = w.vmis.latest('flaky')!;
    sim.failNextMigration(w.ns, 'flaky', { atPhase: 'Scheduling' });
    const mig = await migrate(w, 'flaky', 'mig-early');
    expect(mig.status?.phase).toBe('Failed');
    expect(mig.status?.migrationState?.failureReason).toBe('simulated failure in Scheduling');
    const targetUid = mig.metadata.uid;
    await w.pods.until('target pod deleted', (r) =>
      r.all().every((p) => p.metadata?.labels?.['kubevirt.io/migrationJobUID'] !== targetUid),
    );
    expect(w.vmis.latest('flaky')?.status?.migrationState?.migrationUid).not.toBe(mig.metadata.uid);
    expect(w.vmis.latest('flaky')?.status?.nodeName).toBe(vmi.status?.nodeName);
  });

  it('fails a migration whose target pod never starts, after the pending timeout', async () => {
    const vmi = w.vmis.latest('mover')!;
    sim.targetPodNeverStarts(w.ns, 'mover');
    const started = Date.now();
    const mig = await migrate(w, 'mover', 'mig-stuck');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(mig.status?.phase).toBe('Failed');
    expect(mig.status?.migrationState?.failureReason).toMatch(/pending pod .* timeout period exceeded/);
    const targetEvents = w.pods.events.filter(
      (e) => e.obj.metadata?.labels?.['kubevirt.io/migrationJobUID'] === mig.metadata.uid,
    );
    expect(
      targetEvents.some((e) => e.obj.status?.conditions?.some((c) => c.reason === 'Unschedulable')),
    ).toBe(true);
    expect(targetEvents.every((e) => !e.obj.spec?.nodeName)).toBe(true);
    await w.pods.until('stuck target pod deleted', (r) =>
      r.all().every((p) => p.metadata?.labels?.['kubevirt.io/migrationJobUID'] !== mig.metadata.uid),
    );
    expect(w.vmis.latest('mover')?.status?.nodeName).toBe(vmi.status?.nodeName);
  });

  it('refuses to migrate a VMI that is not live-migratable', async () => {
    await createVm(w, 'stuckbridge', { annotations: {} });
    const mig = await migrate(w, 'stuckbridge', 'mig-refused');
    expect(mig.status?.phase).toBe('Failed');
    expect(mig.status?.migrationState?.failureReason).toMatch(/InterfaceNotLiveMigratable/);
    expect(created.some((c) => c.migration.metadata.name === 'mig-refused')).toBe(false);
  });
});

describe('KubevirtSimulator: node drain', () => {
  const sim = new KubevirtSimulator();
  let w: World;

  beforeAll(async () => {
    w = await world('kvsim-drain');
    await sim.start(kc, { namespace: w.ns, nodes: 2 });
  });

  afterAll(async () => {
    await sim.stop();
    stopWorld(w);
  });

  it('evacuates LiveMigrate VMIs by migration, evicts VMIs without a strategy, refuses unmigratable ones', async () => {
    const [n0, n1] = sim.nodeNamesList as [string, string];
    // Everything on n0 first.
    await sim.cordonNode(n1);
    const mover = await createVm(w, 'mover', { evictionStrategy: 'LiveMigrate' });
    const plain = await createVm(w, 'plain');
    const pinned = await createVm(w, 'pinned', { evictionStrategy: 'LiveMigrate', annotations: {} });
    for (const v of [mover, plain, pinned]) expect(v.status?.nodeName).toBe(n0);
    await sim.uncordonNode(n1);

    const result = await sim.drainNode(n0);
    expect(result.marked).toEqual([`${w.ns}/mover`]);
    expect(result.evicted).toEqual([`${w.ns}/${podsOfVmi(w, plain)[0]!.metadata!.name}`]);
    expect(result.denied.map((d) => d.pod).sort()).toEqual(
      [podsOfVmi(w, mover)[0]!, podsOfVmi(w, pinned)[0]!].map((p) => `${w.ns}/${p.metadata!.name}`).sort(),
    );
    expect(result.denied.find((d) => d.reason.includes('not live-migratable'))?.pod).toBe(
      `${w.ns}/${podsOfVmi(w, pinned)[0]!.metadata!.name}`,
    );
    expect((await core.readNode({ name: n0 })).spec?.unschedulable).toBe(true);

    // The eviction webhook's mark, then the evacuation controller's migration.
    await w.vmis.until('mover marked', (r) =>
      r.events.some((e) => e.obj.metadata.name === 'mover' && e.obj.status?.evacuationNodeName === n0),
    );
    const mig = await w.vmims.until('evacuation migration Succeeded', (r) =>
      r.all().find((m) => m.spec.vmiName === 'mover' && m.status?.phase === 'Succeeded'),
    );
    expect(mig.metadata.name).toMatch(/^kubevirt-evacuation-/);
    expect(mig.metadata.annotations?.['kubevirt.io/evacuationMigration']).toBe(n0);
    expect(mig.spec.priority).toBe('system-critical');
    const moved = await w.vmis.until('mover on n1', (r) => {
      const v = r.latest('mover');
      return v?.status?.nodeName === n1 && v.metadata.labels?.['kubevirt.io/nodeName'] === n1 && v;
    });
    expect(moved.metadata.uid).toBe(mover.metadata.uid);
    expect(moved.status?.evacuationNodeName).toBeUndefined();
    expect(w.vmims.all().filter((m) => m.spec.vmiName === 'mover')).toHaveLength(1);

    // No strategy: the pod went, the VMI failed, the VM started a new one on the other node.
    const restarted = await w.vmis.until('plain restarted on n1', (r) => {
      const v = r.latest('plain');
      return v?.metadata.uid !== plain.metadata.uid && v?.status?.phase === 'Running' && v;
    });
    expect(restarted.status?.nodeName).toBe(n1);

    // Refused: still running on the drained node.
    expect(w.vmis.latest('pinned')?.status?.nodeName).toBe(n0);
    expect(w.vmis.latest('pinned')?.status?.evacuationNodeName).toBeUndefined();
  });
});
