// Where the project's controllers join the manager: the in-cluster IP pool provider, the machine
// network controller with the configured network driver, and the cluster network controller.
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { addInClusterPoolProvider } from '../ipam/index.js';
import type { NetworkDriver } from '../network/driver.js';
import { OvnDriver, type SyncTiming } from '../network/ovn/index.js';
import { OvnKubeDriver } from '../network/ovnkube/index.js';
import { DEFAULT_GATEWAY_IPV4, DEFAULT_GATEWAY_MAC } from '../api/index.js';
import type { Manager } from '../runtime/index.js';
import { Histogram } from 'prom-client';
import { addClusterNetworkController } from './cluster-network/index.js';
import { addMachineNetworkController } from './machine-network/index.js';

export interface RegisterOptions {
  /** False while capk's CRDs lack the network schema: controllers hold rather than lose data. */
  schemaReady?: () => boolean;
}

export type RegisterControllers = (
  manager: Manager,
  config: Config,
  opts?: RegisterOptions,
) => void | Promise<void>;

/**
 * The OVN driver's sync stages, observed into capk_podnet_ovn_sync_duration_seconds: the NB's
 * latency as the controller sees it (a flip's commit is most of a migration's cutover).
 */
function ovnSyncObserver(manager: Manager): (t: SyncTiming) => void {
  const name = 'capk_podnet_ovn_sync_duration_seconds';
  const histogram =
    (manager.metrics.registry.getSingleMetric(name) as Histogram<'stage' | 'lane'> | undefined) ??
    new Histogram({
      name,
      help: "OVN driver syncs that wrote: behind the machine's earlier calls ('wait'), compose+diff ('diff'), and lane wait + NB transaction + cache ('commit'), per lane.",
      labelNames: ['stage', 'lane'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [manager.metrics.registry],
    });
  return (t) => {
    histogram.observe({ stage: 'wait', lane: t.lane }, t.waitMs / 1000);
    histogram.observe({ stage: 'diff', lane: t.lane }, t.diffMs / 1000);
    histogram.observe({ stage: 'commit', lane: t.lane }, t.commitMs / 1000);
  };
}

/** The network driver the configuration names, connected. */
export async function startNetworkDriver(manager: Manager, config: Config): Promise<NetworkDriver> {
  const driver: NetworkDriver =
    config.networkDriver === 'ovn'
      ? new OvnDriver({
          nbRemotes: config.ovnNbAddress!,
          logger: manager.log,
          onSync: ovnSyncObserver(manager),
          migration: config.ovnMigration,
          multiChassisActivation: config.ovnMultiChassisActivation,
          ...(config.ovnGatewayOnEveryNode
            ? { gatewayOnEveryNode: { ipv4: DEFAULT_GATEWAY_IPV4, mac: DEFAULT_GATEWAY_MAC } }
            : {}),
          ...(config.ovnNbCaFile && config.ovnNbCertFile && config.ovnNbKeyFile
            ? {
                tls: {
                  caCert: readFileSync(config.ovnNbCaFile, 'utf8'),
                  certificate: readFileSync(config.ovnNbCertFile, 'utf8'),
                  privateKey: readFileSync(config.ovnNbKeyFile, 'utf8'),
                },
              }
            : {}),
        })
      : new OvnKubeDriver({ client: manager.client, logger: manager.log });
  await driver.start();
  return driver;
}

export const registerControllers: RegisterControllers = async (manager, config, opts = {}) => {
  addInClusterPoolProvider(manager, { concurrency: config.concurrency });
  const driver = await startNetworkDriver(manager, config);
  addMachineNetworkController(manager, {
    driver,
    concurrency: config.concurrency,
    ...(opts.schemaReady ? { schemaReady: opts.schemaReady } : {}),
    defaults: {
      dnsServers: config.infraDnsServers,
      ...(config.podNetworkMtu ? { mtu: config.podNetworkMtu } : {}),
    },
  });
  addClusterNetworkController(manager, {
    concurrency: config.concurrency,
    nodePortRange: config.serviceNodePortRange,
    ...(opts.schemaReady ? { schemaReady: opts.schemaReady } : {}),
  });
  void manager.done.finally(() => driver.stop()).catch(() => undefined);
};
