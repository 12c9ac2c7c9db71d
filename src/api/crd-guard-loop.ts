// The CRD guard as a long-running loop, for a manager that wants it without its own informer: runs
// the guard (as guardNetworkSchema) at start and after every change of one of capk's CRDs (watch on CRDs, filtered
// by name). Runs never overlap; changes during a run cause exactly one more run. A failed run (the
// API server answers "storage is (re)initializing" for a moment after a CRD update) is retried
// with backoff, and a data restore that did not finish stays pending until one does. A watch that
// ends is re-opened after a pause, followed by a run, since events may have been missed meanwhile.
import type * as k8s from '@kubernetes/client-node';
import { ensureNetworkSchema, isCapkCrdName, restoreFromBackups, type GuardRun } from './crd-guard.js';

/** Watches capk's CRDs: names each changed CRD, calls onEnd once when the watch ends. */
export type CrdWatch = (
  onChange: (crdName: string) => void,
  onEnd: (err?: unknown) => void,
) => Promise<{ abort(): void }>;

/** client-node's Watch, loaded only when used: importing client-node costs tens of MB of memory. */
function clientNodeWatch(kc: k8s.KubeConfig): CrdWatch {
  return async (onChange, onEnd) => {
    const { Watch } = await import('@kubernetes/client-node');
    return new Watch(kc).watch(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      {},
      (_phase, obj: { metadata?: { name?: string } }) => onChange(obj?.metadata?.name ?? ''),
      (err: unknown) => onEnd(err),
    );
  };
}

export interface CrdGuardLoop {
  /** Resolves after the current run, if any. */
  stop(): Promise<void>;
}

export async function startCrdGuard(
  kc: k8s.KubeConfig,
  opts: {
    onRun?: (r: GuardRun) => void;
    onError?: (e: unknown) => void;
    rewatchMs?: number;
    /** First retry delay after a failed run; doubles up to 30 s. */
    retryMs?: number;
    /** How to watch the CRDs (e.g. the manager's own client); default client-node's Watch on kc. */
    watch?: CrdWatch;
  } = {},
): Promise<CrdGuardLoop> {
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let abort: { abort(): void } | undefined;
  const watchCrds = opts.watch ?? clientNodeWatch(kc);
  let rewatch: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = opts.retryMs ?? 250;
  // Set when a schema was restored (or a run failed, when we cannot tell) until backups are applied.
  let restorePending = false;

  const once = async (): Promise<GuardRun> => {
    const crds = await ensureNetworkSchema(kc);
    const schemaReady = crds.every((c) => c.action !== 'no-crd');
    if (crds.some((c) => c.action === 'restored')) restorePending = true;
    let restored: GuardRun['restored'] = [];
    if (schemaReady && restorePending) {
      restored = await restoreFromBackups(kc);
      restorePending = false;
    }
    return { schemaReady, crds, restored };
  };

  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          opts.onRun?.(await once());
          retryMs = opts.retryMs ?? 250;
        } catch (e) {
          restorePending = true;
          opts.onError?.(e);
          clearTimeout(retry);
          retry = setTimeout(run, retryMs);
          retryMs = Math.min(retryMs * 2, 30_000);
        }
      } while (again && !stopped);
    })().finally(() => (running = undefined));
  };

  const watch = async (): Promise<void> => {
    if (stopped) return;
    try {
      abort = await watchCrds(
        (name) => {
          if (isCapkCrdName(name)) run();
        },
        (err) => {
          if (err) opts.onError?.(err);
          scheduleRewatch();
        },
      );
    } catch (e) {
      opts.onError?.(e);
      scheduleRewatch();
    }
  };
  const scheduleRewatch = (): void => {
    if (stopped) return;
    rewatch = setTimeout(() => {
      run();
      void watch();
    }, opts.rewatchMs ?? 1_000);
  };

  run();
  await watch();
  return {
    async stop() {
      stopped = true;
      clearTimeout(rewatch);
      clearTimeout(retry);
      abort?.abort();
      await running;
    },
  };
}
