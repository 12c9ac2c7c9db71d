#!/usr/bin/env node
// capk-podnet: the manager process. Flags/env → zod-validated config → Manager (informers, leader
// election, probes, metrics) with the project's controllers. SIGTERM/SIGINT drain and exit 0;
// a lost lease exits 1 at once so the pod restarts as a follower.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, usage } from './config.js';
import { join } from 'node:path';
import { registerControllers } from './controllers/index.js';
import { machineMacSource, virtualMachineMutator, VM_MUTATE_PATH, WebhookServer } from './webhook/index.js';
import {
  LeadershipLostError,
  Manager,
  type RestClient,
  RuntimeMetrics,
  createLogger,
  loadConnection,
} from './runtime/index.js';
import type { KubeConfig as ClientNodeKubeConfig } from '@kubernetes/client-node';
import type { CrdWatch } from './api/crd-guard-loop.js';
import { CAPK_CRDS } from './api/crd-merge.js';

export async function main(argv: string[]): Promise<number> {
  const loaded = loadConfig(argv);
  if (loaded.success === 'help') {
    console.log(usage());
    return 0;
  }
  if (!loaded.success) {
    console.error(`capk-podnet: invalid configuration\n  ${loaded.errors.join('\n  ')}\n\n${usage()}`);
    return 2;
  }
  const config = loaded.config;
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  const connection = await loadConnection(config.kubeconfig);
  const manager = new Manager({
    kubeConfig: connection,
    namespaces: config.namespaces,
    logger: log,
    metrics: new RuntimeMetrics({ processMetrics: true }),
    metricsBindAddress: config.metricsBindAddress,
    healthProbeBindAddress: config.healthProbeBindAddress,
    syncPeriodMs: config.syncPeriodMs,
    leaderElection: {
      enabled: config.leaderElect,
      namespace: config.leaderElectionNamespace,
      name: config.leaderElectionId,
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
    },
  });
  const schema = { ready: !config.crdGuard };
  // The guard runs on the manager's own connection and client: client-node (which its defaults
  // would load) costs ~60 MB of resident memory, a third of the manager's budget.
  const guard = config.crdGuard
    ? await (
        await import('./api/crd-guard-loop.js')
      ).startCrdGuard(connection as unknown as ClientNodeKubeConfig, {
        watch: crdWatch(manager.client),
        onRun: (r) => {
          schema.ready = r.schemaReady;
          for (const c of r.crds)
            if (c.action !== 'unchanged') log.info('CRD guard', { kind: c.kind, action: c.action });
        },
        onError: (e) =>
          log.error('CRD guard run failed', { error: e instanceof Error ? e.message : String(e) }),
      })
    : undefined;
  void manager.done.finally(() => guard?.stop()).catch(() => undefined);
  await registerControllers(manager, config, { schemaReady: () => schema.ready });
  // Every replica serves admission (not only the leader), from the shared caches.
  const webhook =
    config.webhookBindAddress === '0'
      ? undefined
      : await WebhookServer.listen({
          address: config.webhookBindAddress,
          certFile: join(config.webhookCertDir, 'tls.crt'),
          keyFile: join(config.webhookCertDir, 'tls.key'),
          handlers: { [VM_MUTATE_PATH]: virtualMachineMutator(machineMacSource(manager)) },
          logger: log,
        });
  void manager.done.finally(() => webhook?.close()).catch(() => undefined);

  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    log.info('shutting down', { signal: sig });
    void manager.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  log.info('starting', {
    identity: manager.identity,
    namespaces: config.namespaces,
    networkDriver: config.networkDriver,
    leaderElect: config.leaderElect,
  });
  try {
    await manager.start();
    await manager.done;
    log.info('stopped');
    return 0;
  } catch (e) {
    if (e instanceof LeadershipLostError) {
      log.error('leader election lost, exiting');
      return 1;
    }
    log.error('manager failed', { error: e instanceof Error ? e.message : String(e) });
    return 1;
  }
}

/**
 * capk's CRDs watched by name, one watch each (a field selector): the API server never sends the
 * other CRDs, some of which (KubeVirt's) are megabytes of schema each. Each watch starts from a
 * one-item list's version, so it opens without replaying the CRD. Ends (once) when any watch ends.
 */
function crdWatch(client: RestClient): CrdWatch {
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  return async (onChange, onEnd) => {
    const abort = new AbortController();
    let ended = false;
    const end = (err?: unknown) => {
      if (ended) return;
      ended = true;
      abort.abort();
      onEnd(err);
    };
    const open = async (name: string) => {
      const fieldSelector = `metadata.name=${name}`;
      const list = await client.request<{ metadata: { resourceVersion: string } }>('GET', path, {
        query: { fieldSelector, limit: 1 },
        signal: abort.signal,
      });
      const res = await client.stream(path, {
        query: {
          watch: true,
          fieldSelector,
          resourceVersion: list.metadata.resourceVersion,
          timeoutSeconds: 300,
        },
        signal: abort.signal,
        idleTimeoutMs: 330_000,
      });
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const ev = JSON.parse(line) as { type: string; object?: { metadata?: { name?: string } } };
            if (ev.type === 'ERROR') return end(new Error(`CRD watch: ${line.slice(0, 200)}`));
            if (ev.type !== 'BOOKMARK') onChange(ev.object?.metadata?.name ?? name);
          } catch (e) {
            return end(e);
          }
        }
      });
      res.on('end', () => end());
      res.on('close', () => end());
      res.on('error', (e) => end(e));
    };
    try {
      await Promise.all(Object.values(CAPK_CRDS).map((c) => open(c.crdName)));
    } catch (e) {
      end(e);
    }
    return abort;
  };
}

// Run when executed (bin or `node dist/cli.js`), not when imported by tests.
function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
