// The manager's OVN driver, wired as the CLI wires it, reports how long its syncs take: the NB's
// latency as the controller sees it, per lane (a migration's flip has its own).
import { startNetworkDriver } from '../../src/controllers/index.js';
import { loadConfig } from '../../src/config.js';
import { Manager } from '../../src/runtime/index.js';
import type { NetworkDriver, VmNetworkSpec } from '../../src/network/driver.js';
import { testKubeConfig } from '../env/kube.js';
import { OvnCentral } from '../env/ovn-central.js';
import { buildTopology, GATEWAY } from './topology.js';

let ovn: OvnCentral;
let driver: NetworkDriver | undefined;

beforeAll(async () => {
  ovn = await OvnCentral.start();
  await buildTopology(ovn, ['node-a', 'node-b']);
});
afterAll(async () => {
  await driver?.stop();
  await ovn?.stop();
});

const spec = (placement: VmNetworkSpec['placement']): VmNetworkSpec => ({
  cluster: { namespace: 't', name: 'c' },
  machine: { namespace: 't', name: 'w1' },
  ipv4: '10.100.0.2',
  prefixLength: 24,
  mac: '0a:58:0a:64:00:02',
  hostname: 'w1',
  gateway: GATEWAY,
  mtu: 1400,
  dnsServers: ['10.96.0.10'],
  placement,
});

test('observes each writing sync in capk_podnet_ovn_sync_duration_seconds, flips in the cutover lane', async () => {
  const loaded = loadConfig(['--network-driver=ovn', `--ovn-nb-address=${ovn.nbRemote}`], {});
  if (loaded.success !== true) throw new Error(`config: ${JSON.stringify(loaded)}`);
  const manager = new Manager({ kubeConfig: testKubeConfig(), namespaces: ['unused'] });
  driver = await startNetworkDriver(manager, loaded.config);

  const count = async (stage: string, lane: string, series = 'count') => {
    const m = await manager.metrics.registry.getSingleMetric('capk_podnet_ovn_sync_duration_seconds')!.get();
    return m.values
      .filter(
        (v) =>
          (v as { metricName?: string }).metricName === `capk_podnet_ovn_sync_duration_seconds_${series}` &&
          v.labels.stage === stage &&
          v.labels.lane === lane,
      )
      .reduce((n, v) => n + v.value, 0);
  };
  await driver.ensureVm(spec({ kind: 'node', node: 'node-a' }));
  await driver.ensureVm(spec({ kind: 'node', node: 'node-a' })); // nothing to write: not observed
  const mig = { kind: 'migrating', source: 'node-a', target: 'node-b', migrationId: 'm1' } as const;
  await driver.ensureVm(spec({ ...mig, phase: 'target-created' }));
  await driver.ensureVm(spec({ ...mig, phase: 'target-ready' }));
  expect([await count('diff', 'normal'), await count('commit', 'normal')]).toEqual([2, 2]);
  expect([await count('diff', 'cutover'), await count('commit', 'cutover')]).toEqual([1, 1]);
  expect([await count('wait', 'normal'), await count('wait', 'cutover')]).toEqual([2, 1]);

  // A flip called while the machine's previous call is still running waits for it, and says so.
  const waitedBefore = await count('wait', 'cutover', 'sum');
  const back = { kind: 'migrating', source: 'node-b', target: 'node-a', migrationId: 'm2' } as const;
  await driver.ensureVm(spec({ kind: 'node', node: 'node-b' }));
  const prepare = driver.ensureVm(spec({ ...back, phase: 'target-created' }));
  const flip = driver.ensureVm(spec({ ...back, phase: 'target-ready' }));
  await Promise.all([prepare, flip]);
  expect(await count('wait', 'cutover')).toBe(2);
  expect((await count('wait', 'cutover', 'sum')) - waitedBefore).toBeGreaterThan(0);
});
