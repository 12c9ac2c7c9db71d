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
  RuntimeMetrics,
  createLogger,
  loadConnection,
} from './runtime/index.js';

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
  const manager = new Manager({
    kubeConfig: await loadConnection(config.kubeconfig),
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
  const guard = config.crdGuard
    ? await (
        await import('./api/crd-guard-loop.js')
      ).startCrdGuard(await clientNodeConfig(config.kubeconfig), {
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

/** The CRD guard talks through client-node; loaded only when the guard runs (it costs memory). */
async function clientNodeConfig(path: string | undefined) {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
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
