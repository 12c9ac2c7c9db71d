import type { PlacementFacts } from '../../kubevirt/placement.js';
import type { Placement, VmNetworkObservation, VmNetworkSpec } from '../../network/driver.js';
import { claimLeftByEarlierMachine, macForIPv4, nextNetworkStatus } from './desired.js';

const spec = (placement: Placement): VmNetworkSpec => ({
  cluster: { namespace: 'ns', name: 'c1' },
  machine: { namespace: 'ns', name: 'm1' },
  ipv4: '10.10.0.5',
  prefixLength: 24,
  mac: '0a:58:0a:0a:00:05',
  hostname: 'm1',
  gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
  dnsServers: ['10.96.0.10'],
  placement,
});
const seen = (routedTo?: string): VmNetworkObservation => ({
  programmed: !!routedTo,
  routedTo,
  portNodes: [],
});
const migrating = (phase: 'target-created' | 'target-ready'): Placement => ({
  kind: 'migrating',
  source: 'n1',
  target: 'n2',
  phase,
  migrationId: 'j1',
});
const facts = (placement: Placement, extra: Partial<PlacementFacts> = {}): PlacementFacts => ({
  placement,
  ...extra,
});

describe('claimLeftByEarlierMachine', () => {
  const machine = { metadata: { name: 'm1', uid: 'uid-now' } };
  const claim = (metadata: object) => ({ metadata: { name: 'm1', ...metadata } });
  const owner = (uid: string) => ({
    apiVersion: 'infrastructure.cluster.x-k8s.io/v1alpha1',
    kind: 'KubevirtMachine',
    name: 'm1',
    uid,
    controller: true,
  });
  it("is false for the machine's own claim, and for one no KubevirtMachine controls", () => {
    expect(claimLeftByEarlierMachine(claim({ ownerReferences: [owner('uid-now')] }), machine)).toBe(false);
    expect(claimLeftByEarlierMachine(claim({}), machine)).toBe(false);
  });
  it('is true for a claim being deleted, or controlled by a machine of another uid', () => {
    expect(
      claimLeftByEarlierMachine(
        claim({ ownerReferences: [owner('uid-now')], deletionTimestamp: '2026-11-26T00:00:00Z' }),
        machine,
      ),
    ).toBe(true);
    expect(claimLeftByEarlierMachine(claim({ ownerReferences: [owner('uid-before')] }), machine)).toBe(true);
  });
});

describe('macForIPv4', () => {
  it.each([
    ['10.10.0.5', '0a:58:0a:0a:00:05'],
    ['192.168.255.1', '0a:58:c0:a8:ff:01'],
    ['169.254.1.1', '0a:58:a9:fe:01:01'],
  ])('%s → %s', (ip, mac) => expect(macForIPv4(ip)).toBe(mac));
});

describe('nextNetworkStatus', () => {
  const at = Date.parse('2026-11-26T10:00:01.000Z');

  it('reports the IP once, Ready when programmed on a node, and nothing new on a repeat', () => {
    const p: Placement = { kind: 'node', node: 'n1' };
    const first = nextNetworkStatus({
      prev: undefined,
      spec: spec(p),
      facts: facts(p),
      observed: seen('n1'),
      committedAtMs: at,
    });
    expect(first.status).toEqual({
      ipv4: '10.10.0.5',
      mac: '0a:58:0a:0a:00:05',
      gateway: '169.254.1.1',
      node: 'n1',
      phase: 'Ready',
    });
    expect(first.events.map((e) => e.reason)).toEqual(['IPAssigned']);
    const again = nextNetworkStatus({
      prev: first.status,
      spec: spec(p),
      facts: facts(p),
      observed: seen('n1'),
      committedAtMs: at,
    });
    expect(again).toEqual({ status: first.status, events: [] });
  });

  it('is Pending while the VM is unscheduled', () => {
    const p: Placement = { kind: 'unscheduled' };
    expect(
      nextNetworkStatus({
        prev: undefined,
        spec: spec(p),
        facts: facts(p),
        observed: seen(),
        committedAtMs: at,
      }).status.phase,
    ).toBe('Pending');
  });

  it('walks a migration: started, cut over with the measured time, completed', () => {
    const node1: Placement = { kind: 'node', node: 'n1' };
    let s = nextNetworkStatus({
      prev: undefined,
      spec: spec(node1),
      facts: facts(node1),
      observed: seen('n1'),
      committedAtMs: at,
    }).status;
    const migration = {
      id: 'j1',
      source: 'n1',
      target: 'n2',
      startedAt: '2026-11-26T10:00:00Z',
      completed: false,
      failed: false,
    };

    const created = migrating('target-created');
    let r = nextNetworkStatus({
      prev: s,
      spec: spec(created),
      facts: facts(created, { migration }),
      observed: seen('n1'),
      committedAtMs: at,
    });
    expect(r.events.map((e) => e.reason)).toEqual(['MigrationStarted']);
    expect(r.status).toMatchObject({
      phase: 'Migrating',
      node: 'n1',
      lastMigration: { from: 'n1', to: 'n2', startedAt: '2026-11-26T10:00:00Z' },
    });
    s = r.status;

    const ready = migrating('target-ready');
    const readyFacts = facts(ready, { migration, targetReadyAtMs: at - 12 });
    r = nextNetworkStatus({
      prev: s,
      spec: spec(ready),
      facts: readyFacts,
      observed: seen('n2'),
      committedAtMs: at,
    });
    expect(r.events.map((e) => e.reason)).toEqual(['MigrationCutOver']);
    expect(r.status.lastMigration?.cutoverMilliseconds).toBe(12);
    s = r.status;
    // The same state again: no second cutover, the figure stays.
    r = nextNetworkStatus({
      prev: s,
      spec: spec(ready),
      facts: readyFacts,
      observed: seen('n2'),
      committedAtMs: at + 500,
    });
    expect(r.events).toEqual([]);
    expect(r.status.lastMigration?.cutoverMilliseconds).toBe(12);

    const node2: Placement = { kind: 'node', node: 'n2' };
    const done = { ...migration, completed: true, endedAt: '2026-11-26T10:00:02Z' };
    r = nextNetworkStatus({
      prev: s,
      spec: spec(node2),
      facts: facts(node2, { migration: done }),
      observed: seen('n2'),
      committedAtMs: at,
    });
    expect(r.events.map((e) => e.reason)).toEqual(['MigrationCompleted']);
    expect(r.status).toMatchObject({
      phase: 'Ready',
      node: 'n2',
      lastMigration: { from: 'n1', to: 'n2', completedAt: '2026-11-26T10:00:02Z', cutoverMilliseconds: 12 },
    });
  });

  it('records a quick migration seen only in its end state, with the cutover from the ready time', () => {
    const node1: Placement = { kind: 'node', node: 'n1' };
    const s = nextNetworkStatus({
      prev: undefined,
      spec: spec(node1),
      facts: facts(node1),
      observed: seen('n1'),
      committedAtMs: at,
    }).status;
    const node2: Placement = { kind: 'node', node: 'n2' };
    const done = {
      id: 'j1',
      source: 'n1',
      target: 'n2',
      startedAt: '2026-11-26T10:00:00Z',
      endedAt: '2026-11-26T10:00:01Z',
      completed: true,
      failed: false,
    };
    const r = nextNetworkStatus({
      prev: s,
      spec: spec(node2),
      facts: facts(node2, { migration: done, targetReadyAtMs: at - 40 }),
      observed: seen('n2'),
      committedAtMs: at,
    });
    expect(r.events.map((e) => e.reason)).toEqual([
      'MigrationStarted',
      'MigrationCutOver',
      'MigrationCompleted',
    ]);
    expect(r.status.lastMigration).toEqual({
      from: 'n1',
      to: 'n2',
      startedAt: done.startedAt,
      completedAt: done.endedAt,
      cutoverMilliseconds: 40,
    });
    const again = nextNetworkStatus({
      prev: r.status,
      spec: spec(node2),
      facts: facts(node2, { migration: done, targetReadyAtMs: at - 40 }),
      observed: seen('n2'),
      committedAtMs: at + 999,
    });
    expect(again.events).toEqual([]);
  });

  it('tells a retry that completed from the failed run before it', () => {
    const node1: Placement = { kind: 'node', node: 'n1' };
    const failed = {
      id: 'j1',
      source: 'n1',
      target: 'n2',
      startedAt: '2026-11-26T10:00:00Z',
      endedAt: '2026-11-26T10:00:01Z',
      completed: true,
      failed: true,
    };
    const s = nextNetworkStatus({
      prev: { ipv4: '10.10.0.5', phase: 'Ready' },
      spec: spec(node1),
      facts: facts(node1, { migration: failed }),
      observed: seen('n1'),
      committedAtMs: at,
    }).status;
    const node2: Placement = { kind: 'node', node: 'n2' };
    const retry = {
      ...failed,
      id: 'j2',
      startedAt: '2026-11-26T10:00:05Z',
      endedAt: '2026-11-26T10:00:06Z',
      failed: false,
    };
    const r = nextNetworkStatus({
      prev: s,
      spec: spec(node2),
      facts: facts(node2, { migration: retry }),
      observed: seen('n2'),
      committedAtMs: at,
    });
    expect(r.events.map((e) => e.reason)).toEqual([
      'MigrationStarted',
      'MigrationCutOver',
      'MigrationCompleted',
    ]);
    expect(r.status.lastMigration).toMatchObject({ startedAt: retry.startedAt, completedAt: retry.endedAt });
  });

  it('reports a failed migration as a Warning and stays at the source', () => {
    const created = migrating('target-created');
    const migration = { id: 'j1', source: 'n1', target: 'n2', completed: false, failed: false };
    const s = nextNetworkStatus({
      prev: { ipv4: '10.10.0.5', phase: 'Ready' },
      spec: spec(created),
      facts: facts(created, { migration }),
      observed: seen('n1'),
      committedAtMs: at,
    }).status;
    const node1: Placement = { kind: 'node', node: 'n1' };
    const failed = { ...migration, completed: true, failed: true, failureReason: 'target pod never started' };
    const r = nextNetworkStatus({
      prev: s,
      spec: spec(node1),
      facts: facts(node1, { migration: failed }),
      observed: seen('n1'),
      committedAtMs: at,
    });
    expect(r.events).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'MigrationFailed',
        message: expect.stringContaining('target pod never started'),
      }),
    ]);
    expect(r.status).toMatchObject({ phase: 'Ready', node: 'n1' });
  });
});
