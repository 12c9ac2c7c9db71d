// Conditions in metav1.Condition shape under status.conditions, with Cluster API's habits:
// lastTransitionTime moves only when status changes, observedGeneration records the generation
// the condition was computed from, and a summary (Ready, NetworkReady) is derived from
// sub-conditions, a missing input counting as Unknown.
import type { KubeObject } from './types.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
  [k: string]: unknown;
}

type WithStatus = KubeObject & { status?: { conditions?: Condition[]; [k: string]: unknown } };

export function getConditions(o: KubeObject): Condition[] {
  return (o as WithStatus).status?.conditions ?? [];
}

export function getCondition(o: KubeObject, type: string): Condition | undefined {
  return getConditions(o).find((c) => c.type === type);
}

export function isTrue(o: KubeObject, type: string): boolean {
  return getCondition(o, type)?.status === 'True';
}

/** Sets (adds or replaces) a condition on o; keeps lastTransitionTime when the status is unchanged. */
export function setCondition(
  o: KubeObject,
  c: Condition,
  now: () => string = () => new Date().toISOString(),
): void {
  const w = o as WithStatus;
  w.status ??= {};
  const list = (w.status.conditions ??= []);
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    ...c,
    reason: c.reason ?? defaultReason(c.status),
    observedGeneration: c.observedGeneration ?? o.metadata.generation,
    lastTransitionTime:
      prev && prev.status === c.status ? (prev.lastTransitionTime ?? now()) : (c.lastTransitionTime ?? now()),
  };
  if (next.message === undefined) delete next.message;
  if (next.observedGeneration === undefined) delete next.observedGeneration;
  if (i >= 0) list[i] = next;
  else list.push(next);
}

export function markTrue(o: KubeObject, type: string, reason?: string, message?: string): void {
  setCondition(o, { type, status: 'True', reason, message });
}

export function markFalse(o: KubeObject, type: string, reason: string, message?: string): void {
  setCondition(o, { type, status: 'False', reason, message });
}

export function markUnknown(o: KubeObject, type: string, reason: string, message?: string): void {
  setCondition(o, { type, status: 'Unknown', reason, message });
}

export function deleteCondition(o: KubeObject, type: string): void {
  const w = o as WithStatus;
  if (w.status?.conditions) w.status.conditions = w.status.conditions.filter((c) => c.type !== type);
}

/**
 * The summary of `from`: False if any is False (reason and message of the first False), else
 * Unknown if any is Unknown or missing, else True. Pure: returns the condition, does not set it.
 */
export function summarize(o: KubeObject, type: string, from: string[]): Condition {
  const subs = from.map(
    (t) => getCondition(o, t) ?? { type: t, status: 'Unknown' as const, reason: 'NotYetReported' },
  );
  const f = subs.find((c) => c.status === 'False');
  if (f)
    return {
      type,
      status: 'False',
      reason: f.reason ?? 'NotReady',
      message: `${f.type}: ${f.message ?? f.reason ?? 'False'}`,
    };
  const u = subs.find((c) => c.status === 'Unknown');
  if (u)
    return {
      type,
      status: 'Unknown',
      reason: u.reason ?? 'Unknown',
      message: `${u.type}: ${u.message ?? 'not yet known'}`,
    };
  return { type, status: 'True', reason: 'AsExpected' };
}

export function setSummary(o: KubeObject, type: string, from: string[]): void {
  setCondition(o, summarize(o, type, from));
}

function defaultReason(s: ConditionStatus): string {
  return s === 'True' ? 'AsExpected' : s === 'False' ? 'NotReady' : 'Unknown';
}
