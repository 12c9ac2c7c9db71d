// The CRD guard as a long-running loop, for a manager that wants it without its own informer: runs
// guardNetworkSchema at start and after every change of one of capk's CRDs (watch on CRDs, filtered
// by name). Runs never overlap; changes during a run cause exactly one more run. A watch that ends
// is re-opened after a pause, followed by a run, since events may have been missed meanwhile.
import * as k8s from '@kubernetes/client-node';
import { guardNetworkSchema, isCapkCrdName } from './crd-guard.js';

export type GuardRun = Awaited<ReturnType<typeof guardNetworkSchema>>;

export interface CrdGuardLoop {
  /** Resolves after the current run, if any. */
  stop(): Promise<void>;
}

export async function startCrdGuard(
  kc: k8s.KubeConfig,
  opts: { onRun?: (r: GuardRun) => void; onError?: (e: unknown) => void; rewatchMs?: number } = {},
): Promise<CrdGuardLoop> {
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let abort: AbortController | undefined;
  let rewatch: NodeJS.Timeout | undefined;

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
          opts.onRun?.(await guardNetworkSchema(kc));
        } catch (e) {
          opts.onError?.(e);
        }
      } while (again && !stopped);
    })().finally(() => (running = undefined));
  };

  const watch = async (): Promise<void> => {
    if (stopped) return;
    try {
      abort = await new k8s.Watch(kc).watch(
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        {},
        (_phase, obj: { metadata?: { name?: string } }) => {
          if (isCapkCrdName(obj?.metadata?.name ?? '')) run();
        },
        (err: unknown) => {
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
      abort?.abort();
      await running;
    },
  };
}
