import {
  NetworkReasons,
  setNetworkCondition,
  summarizeClusterNetwork,
  type AnyCondition,
} from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');
const capkReady: AnyCondition = { type: 'Ready', status: 'True', lastTransitionTime: '2025-12-31T00:00:00Z' };

test('setNetworkCondition leaves capk’s conditions alone and keeps the transition time while status holds', () => {
  const ipam = {
    type: 'IPAMReady',
    status: 'True',
    reason: 'Ready',
    message: 'pool ok',
    observedGeneration: 1,
  } as const;
  const first = setNetworkCondition([capkReady], ipam, t0);
  expect(first).toEqual([capkReady, { ...ipam, lastTransitionTime: t0.toISOString() }]);
  const same = setNetworkCondition(first, { ...ipam, message: 'still ok', observedGeneration: 2 }, t1);
  expect(same[1]).toMatchObject({
    message: 'still ok',
    observedGeneration: 2,
    lastTransitionTime: t0.toISOString(),
  });
  const flipped = setNetworkCondition(same, { ...ipam, status: 'False', reason: 'PoolExhausted' }, t1);
  expect(flipped[1]).toMatchObject({ status: 'False', lastTransitionTime: t1.toISOString() });
  expect(flipped[0]).toBe(capkReady);
  expect(() => setNetworkCondition([], { ...ipam, type: 'Ready' as never }, t0)).toThrow(
    'not a capk-podnet condition',
  );
});

test('summarizeClusterNetwork: False wins, missing counts as Unknown', () => {
  const c = (type: string, status: string, reason = 'Ready'): AnyCondition => ({
    type,
    status,
    reason,
    message: type,
  });
  expect(summarizeClusterNetwork([c('IPAMReady', 'True'), c('IsolationReady', 'True')], 3)).toMatchObject({
    status: 'Unknown',
    observedGeneration: 3,
  });
  expect(
    summarizeClusterNetwork(
      [
        c('IPAMReady', 'True'),
        c('IsolationReady', 'Unknown'),
        c('ServicesReady', 'False', 'NodePortOutOfRange'),
      ],
      3,
    ),
  ).toMatchObject({ type: 'NetworkReady', status: 'False', reason: 'NodePortOutOfRange' });
  expect(
    summarizeClusterNetwork(
      [c('IPAMReady', 'True'), c('IsolationReady', 'True'), c('ServicesReady', 'True'), capkReady],
      3,
    ),
  ).toMatchObject({ status: 'True', reason: NetworkReasons.Ready });
});
