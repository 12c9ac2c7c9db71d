import { createMergePatch, mergeOwnedConditions } from './patch.js';
import { setCondition, summarize, getCondition, markFalse, markTrue } from './conditions.js';
import { isPaused, ownerClusterKey, ensureFinalizer, removeFinalizer, PausedAnnotation } from './capi.js';
import { mapByLabels, mapInfrastructureRef, mapToControllerOwner } from './controller.js';
import type { Condition } from './conditions.js';
import type { KubeObject } from './types.js';

describe('createMergePatch', () => {
  test('equal objects give no patch', () => {
    expect(createMergePatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toBeUndefined();
  });
  test('changed, added and removed fields; arrays replaced whole; nested objects diffed', () => {
    expect(
      createMergePatch(
        { a: 1, gone: 'x', arr: [1, 2], nested: { keep: 1, change: 1, drop: true } },
        { a: 2, arr: [1], added: { z: 1 }, nested: { keep: 1, change: 2 } },
      ),
    ).toEqual({ a: 2, gone: null, arr: [1], added: { z: 1 }, nested: { change: 2, drop: null } });
  });
  test('undefined in after counts as removed', () => {
    expect(createMergePatch({ a: 1 }, { a: undefined })).toEqual({ a: null });
  });
});

const cond = (type: string, status: Condition['status'], reason = 'R'): Condition => ({
  type,
  status,
  reason,
});

describe('mergeOwnedConditions', () => {
  test('replaces owned types, keeps others in place, appends new owned, drops removed owned', () => {
    const server = [cond('Theirs', 'True'), cond('Mine', 'False'), cond('MineGone', 'True')];
    const ours = [cond('Mine', 'True'), cond('MineNew', 'True'), cond('Theirs', 'False')];
    const owned = new Set(['Mine', 'MineNew', 'MineGone']);
    expect(mergeOwnedConditions(server, ours, owned)).toEqual([
      cond('Theirs', 'True'),
      cond('Mine', 'True'),
      cond('MineNew', 'True'),
    ]);
  });
});

describe('conditions', () => {
  const obj = (): KubeObject => ({ metadata: { name: 'x', generation: 3 } });
  test('lastTransitionTime moves only when status changes; observedGeneration is recorded', () => {
    const o = obj();
    let t = 0;
    const now = () => `T${++t}`;
    setCondition(o, { type: 'A', status: 'False', reason: 'X' }, now);
    setCondition(o, { type: 'A', status: 'False', reason: 'Y' }, now);
    expect(getCondition(o, 'A')).toMatchObject({
      lastTransitionTime: 'T1',
      reason: 'Y',
      observedGeneration: 3,
    });
    setCondition(o, { type: 'A', status: 'True' }, now);
    expect(getCondition(o, 'A')?.lastTransitionTime).toBe('T2');
  });
  test('summary: any False wins, then Unknown (missing counts), else True', () => {
    const o = obj();
    expect(summarize(o, 'Ready', ['A', 'B']).status).toBe('Unknown');
    markTrue(o, 'A');
    expect(summarize(o, 'Ready', ['A', 'B']).status).toBe('Unknown');
    markTrue(o, 'B');
    expect(summarize(o, 'Ready', ['A', 'B']).status).toBe('True');
    markFalse(o, 'B', 'PortDown', 'no port');
    expect(summarize(o, 'Ready', ['A', 'B'])).toMatchObject({
      status: 'False',
      reason: 'PortDown',
      message: 'B: no port',
    });
  });
});

describe('Cluster API helpers', () => {
  const w = (meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({
    metadata: { name: 'w', namespace: 'ns', ...meta },
  });
  test('paused by Cluster spec.paused or by annotation', () => {
    expect(isPaused(undefined, w())).toBe(false);
    expect(isPaused({ metadata: { name: 'c' }, spec: { paused: true } }, w())).toBe(true);
    expect(isPaused({ metadata: { name: 'c' }, spec: { paused: false } }, w())).toBe(false);
    expect(isPaused(undefined, w({ annotations: { [PausedAnnotation]: '' } }))).toBe(true);
  });
  test('owner cluster from the label, else from an ownerReference', () => {
    expect(ownerClusterKey(w({ labels: { 'cluster.x-k8s.io/cluster-name': 'c1' } }))).toEqual({
      namespace: 'ns',
      name: 'c1',
    });
    expect(
      ownerClusterKey(
        w({
          ownerReferences: [
            { apiVersion: 'cluster.x-k8s.io/v1beta1', kind: 'Cluster', name: 'c2', uid: 'u' },
          ],
        }),
      ),
    ).toEqual({ namespace: 'ns', name: 'c2' });
    expect(ownerClusterKey(w())).toBeUndefined();
  });
  test('finalizers are added once and removed cleanly', () => {
    const o = w();
    expect(ensureFinalizer(o, 'f')).toBe(true);
    expect(ensureFinalizer(o, 'f')).toBe(false);
    expect(removeFinalizer(o, 'f')).toBe(true);
    expect(o.metadata.finalizers).toBeUndefined();
  });
  test('map functions: controller owner, labels (virt-launcher Pod → machine), Cluster infrastructureRef', () => {
    const owner = {
      group: 'infrastructure.cluster.x-k8s.io',
      version: 'v1alpha1',
      kind: 'KubevirtMachine',
      plural: 'kubevirtmachines',
      namespaced: true,
    };
    const pod = w({
      labels: { 'vm.kubevirt.io/name': 'm1' },
      ownerReferences: [
        {
          apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
          kind: 'KubevirtMachine',
          name: 'm1',
          uid: 'u',
          controller: true,
        },
        { apiVersion: 'other.io/v1', kind: 'KubevirtMachine', name: 'nope', uid: 'v', controller: true },
      ],
    });
    expect(mapToControllerOwner(owner)(pod)).toEqual([{ namespace: 'ns', name: 'm1' }]);
    expect(mapByLabels('vm.kubevirt.io/name')(pod)).toEqual([{ namespace: 'ns', name: 'm1' }]);
    expect(mapByLabels('absent')(pod)).toEqual([]);
    const cluster: KubeObject = {
      metadata: { name: 'c', namespace: 'ns' },
      spec: {
        infrastructureRef: {
          apiGroup: 'infrastructure.cluster.x-k8s.io',
          kind: 'KubevirtCluster',
          name: 'kc',
        },
      },
    };
    expect(mapInfrastructureRef('KubevirtCluster')(cluster)).toEqual([{ namespace: 'ns', name: 'kc' }]);
    expect(mapInfrastructureRef('DockerCluster')(cluster)).toEqual([]);
  });
});
