import { launcherPodsOf, placementOf, readyTimeMs } from './placement.js';
import type { MigrationState, Pod, VirtualMachineInstance } from './resources.js';

const vmi = (nodeName?: string, ms?: MigrationState, phase = 'Running'): VirtualMachineInstance => ({
  metadata: { name: 'vm1', namespace: 'ns' },
  status: { phase, nodeName, migrationState: ms },
});

const pod = (
  name: string,
  node: string,
  extra: { job?: string; phase?: string; ready?: string } = {},
): Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    labels: {
      'kubevirt.io': 'virt-launcher',
      ...(extra.job ? { 'kubevirt.io/migrationJobUID': extra.job } : {}),
    },
    annotations: {
      'kubevirt.io/domain': 'vm1',
      ...(extra.ready ? { 'kubevirt.io/migration-target-ready-timestamp': extra.ready } : {}),
    },
  },
  spec: { nodeName: node },
  status: { phase: extra.phase ?? 'Running' },
});

describe('placementOf', () => {
  it.each([
    ['no VMI', undefined, [], { kind: 'unscheduled' }],
    ['a VMI not yet scheduled', vmi(undefined, undefined, 'Scheduling'), [], { kind: 'unscheduled' }],
    ['a stopped VMI', vmi('n1', undefined, 'Succeeded'), [], { kind: 'unscheduled' }],
    ['a running VMI', vmi('n1'), [pod('a', 'n1')], { kind: 'node', node: 'n1' }],
    [
      'a target pod before KubeVirt fills migrationState',
      vmi('n1'),
      [pod('a', 'n1'), pod('b', 'n2', { job: 'j1' })],
      { kind: 'migrating', source: 'n1', target: 'n2', phase: 'target-created', migrationId: 'j1' },
    ],
    [
      'a target pod still pending on no node',
      vmi('n1'),
      [pod('a', 'n1'), { ...pod('b', 'n2', { job: 'j1', phase: 'Pending' }), spec: {} }],
      { kind: 'node', node: 'n1' },
    ],
    [
      'KubeVirt preparing the target',
      vmi('n1', { migrationUid: 'j1', sourceNode: 'n1', targetNode: 'n2', targetPod: 'b' }),
      [pod('a', 'n1'), pod('b', 'n2', { job: 'j1' })],
      { kind: 'migrating', source: 'n1', target: 'n2', phase: 'target-created', migrationId: 'j1' },
    ],
    [
      'the target domain ready',
      vmi('n1', {
        migrationUid: 'j1',
        sourceNode: 'n1',
        targetNode: 'n2',
        targetPod: 'b',
        targetNodeDomainReadyTimestamp: '2026-11-26T10:00:00Z',
      }),
      [pod('a', 'n1'), pod('b', 'n2', { job: 'j1' })],
      { kind: 'migrating', source: 'n1', target: 'n2', phase: 'target-ready', migrationId: 'j1' },
    ],
    [
      'a completed migration: the VMI moved, the source pod completed and kept',
      vmi('n2', { migrationUid: 'j1', sourceNode: 'n1', targetNode: 'n2', completed: true }),
      [pod('a', 'n1', { phase: 'Succeeded' }), pod('b', 'n2', { job: 'j1' })],
      { kind: 'node', node: 'n2' },
    ],
    [
      'a failed migration rolls back to the source even with a newer target pod around',
      vmi('n1', { migrationUid: 'j1', sourceNode: 'n1', targetNode: 'n2', completed: true, failed: true }),
      [pod('a', 'n1'), pod('b', 'n2', { job: 'j1', phase: 'Failed' })],
      { kind: 'node', node: 'n1' },
    ],
    [
      // The source of the second migration was the first one's target: it still carries that job's
      // label and ready annotation while virt-launcher exits. It is no new migration's target.
      "a second migration just completed, its source pod (the first one's target) not yet exited",
      vmi('n1', {
        migrationUid: 'j2',
        sourceNode: 'n2',
        sourcePod: 'b',
        targetNode: 'n1',
        targetPod: 'c',
        completed: true,
      }),
      [
        pod('a', 'n1', { phase: 'Succeeded' }),
        pod('b', 'n2', { job: 'j1', ready: '2026-11-26 10:00:00.1 +0000 UTC' }),
        pod('c', 'n1', { job: 'j2', ready: '2026-11-26 10:01:00.1 +0000 UTC' }),
      ],
      { kind: 'node', node: 'n1' },
    ],
    [
      "a second migration in flight: its source pod (the first one's target) is not its target",
      vmi('n2', {
        migrationUid: 'j1',
        sourceNode: 'n1',
        sourcePod: 'a',
        targetNode: 'n2',
        targetPod: 'b',
        completed: true,
      }),
      [
        pod('a', 'n1', { phase: 'Succeeded' }),
        pod('b', 'n2', { job: 'j1', ready: '2026-11-26 10:00:00.1 +0000 UTC' }),
        pod('c', 'n1', { job: 'j2' }),
      ],
      { kind: 'migrating', source: 'n2', target: 'n1', phase: 'target-created', migrationId: 'j2' },
    ],
    [
      'the next migration starting while the last one is still recorded',
      vmi('n2', { migrationUid: 'j1', sourceNode: 'n1', targetNode: 'n2', completed: true }),
      [pod('b', 'n2', { job: 'j1' }), pod('c', 'n3', { job: 'j2' })],
      { kind: 'migrating', source: 'n2', target: 'n3', phase: 'target-created', migrationId: 'j2' },
    ],
  ])('%s', (_name, v, pods, want) => {
    expect(placementOf(v, pods as Pod[]).placement).toEqual(want);
  });

  it('takes the target-ready time from the pod annotation, which has sub-second precision', () => {
    const facts = placementOf(
      vmi('n1', {
        migrationUid: 'j1',
        sourceNode: 'n1',
        targetNode: 'n2',
        targetPod: 'b',
        targetNodeDomainReadyTimestamp: '2026-11-26T10:00:00Z',
      }),
      [pod('b', 'n2', { job: 'j1', ready: '2026-11-26 10:00:00.123456789 +0000 UTC' })],
    );
    expect(facts.targetReadyAtMs).toBe(Date.parse('2026-11-26T10:00:00.123Z'));
  });
});

describe('readyTimeMs', () => {
  it.each([
    ['2026-01-02 15:04:05.5 +0000 UTC', undefined, Date.parse('2026-01-02T15:04:05.500Z')],
    ['2026-01-02 17:04:05.25 +0200 EET', undefined, Date.parse('2026-01-02T15:04:05.250Z')],
    // Whole seconds cannot time a cutover: left to the controller's own clock.
    ['2026-01-02 15:04:05 +0000 UTC', '2026-01-02T15:04:05Z', undefined],
    [undefined, '2026-01-02T15:04:05.120Z', Date.parse('2026-01-02T15:04:05.120Z')],
    ['garbage', undefined, undefined],
  ])('%s / %s', (a, v, want) => {
    expect(readyTimeMs(a, v)).toBe(want);
  });
});

describe('launcherPodsOf', () => {
  it('finds pods by the domain annotation and the launcher label only', () => {
    const other = pod('x', 'n1');
    other.metadata.annotations = { 'kubevirt.io/domain': 'vm2' };
    const notLauncher = pod('y', 'n1');
    notLauncher.metadata.labels = {};
    expect(launcherPodsOf('vm1', [pod('a', 'n1'), other, notLauncher]).map((p) => p.metadata.name)).toEqual([
      'a',
    ]);
  });
});
