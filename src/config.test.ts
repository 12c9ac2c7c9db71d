import { envName, flagName, loadConfig } from './config.js';

describe('loadConfig', () => {
  test('defaults', () => {
    const r = loadConfig([], {});
    expect(r.success).toBe(true);
    if (r.success !== true) return;
    expect(r.config).toMatchObject({
      namespaces: [],
      concurrency: 4,
      leaderElect: true,
      networkDriver: 'ovnkube',
      logFormat: 'json',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    });
  });

  test('flags override environment, which overrides defaults', () => {
    const r = loadConfig(['--concurrency', '8', '--namespaces', 'a, b', '--leader-elect=false'], {
      CAPK_PODNET_CONCURRENCY: '2',
      CAPK_PODNET_LOG_LEVEL: 'debug',
      CAPK_PODNET_NETWORK_DRIVER: 'ovn',
      CAPK_PODNET_OVN_NB_ADDRESS: 'tcp:127.0.0.1:6641',
    });
    expect(r.success).toBe(true);
    if (r.success !== true) return;
    expect(r.config).toMatchObject({
      concurrency: 8,
      namespaces: ['a', 'b'],
      leaderElect: false,
      logLevel: 'debug',
      networkDriver: 'ovn',
      ovnNbAddress: 'tcp:127.0.0.1:6641',
    });
  });

  test('invalid values are reported with flag and variable names', () => {
    const r = loadConfig(['--concurrency', '0', '--log-format', 'xml'], {});
    expect(r.success).toBe(false);
    if (r.success !== false) return;
    const text = r.errors.join('\n');
    expect(text).toContain('--concurrency (CAPK_PODNET_CONCURRENCY)');
    expect(text).toContain('--log-format');
    const ovn = loadConfig(['--network-driver', 'ovn'], {});
    expect(ovn.success === false && ovn.errors).toEqual([
      '--ovn-nb-address (CAPK_PODNET_OVN_NB_ADDRESS): required with --network-driver=ovn',
    ]);
  });

  test("the infra cluster's node-port range: kube-apiserver's default, or MIN-MAX", () => {
    const at = (argv: string[]) => {
      const r = loadConfig(argv, {});
      return r.success === true ? r.config.serviceNodePortRange : r;
    };
    expect(at([])).toEqual({ min: 30000, max: 32767 });
    expect(at(['--service-node-port-range', '20000-22767'])).toEqual({ min: 20000, max: 22767 });
    for (const bad of ['32767-30000', '0-100', '30000', '30000-70000'])
      expect(at(['--service-node-port-range', bad])).toMatchObject({ success: false });
  });

  test('unknown flags and inconsistent lease timings are rejected', () => {
    expect(loadConfig(['--nope', 'x'], {}).success).toBe(false);
    expect(loadConfig(['--lease-duration-ms', '5000', '--renew-deadline-ms', '6000'], {}).success).toBe(
      false,
    );
    expect(loadConfig(['--metrics-bind-address', 'nonsense'], {}).success).toBe(false);
    expect(loadConfig(['--metrics-bind-address', '0'], {}).success).toBe(true);
  });

  test('OVN live-migration handover: two-ports by default, multi-chassis with its activation by flag', () => {
    const base = ['--network-driver=ovn', '--ovn-nb-address=unix:/run/ovn/ovnnb_db.sock'];
    const d = loadConfig(base, {});
    expect(d.success === true && [d.config.ovnMigration, d.config.ovnMultiChassisActivation]).toEqual([
      'two-ports',
      'rarp',
    ]);
    const mc = loadConfig(base, {
      CAPK_PODNET_OVN_MIGRATION: 'multi-chassis',
      CAPK_PODNET_OVN_MULTI_CHASSIS_ACTIVATION: 'none',
    });
    expect(mc.success === true && [mc.config.ovnMigration, mc.config.ovnMultiChassisActivation]).toEqual([
      'multi-chassis',
      'none',
    ]);
    expect(loadConfig([...base, '--ovn-migration=both'], {}).success).toBe(false);
  });

  test('OVN NB address forms; ssl needs its certificates', () => {
    expect(
      loadConfig(['--network-driver', 'ovn', '--ovn-nb-address', 'unix:/run/ovn/ovnnb_db.sock'], {}).success,
    ).toBe(true);
    expect(loadConfig(['--network-driver', 'ovn', '--ovn-nb-address', '10.0.0.1:6641'], {}).success).toBe(
      false,
    );
    expect(loadConfig(['--network-driver', 'ovn', '--ovn-nb-address', 'ssl:10.0.0.1:6641'], {}).success).toBe(
      false,
    );
    const ok = loadConfig(
      [
        '--network-driver=ovn',
        '--ovn-nb-address=ssl:10.0.0.1:6641',
        '--ovn-nb-ca-file=/ca',
        '--ovn-nb-cert-file=/c',
        '--ovn-nb-key-file=/k',
      ],
      {},
    );
    expect(ok.success).toBe(true);
  });

  test('names', () => {
    expect(flagName('leaderElectionNamespace')).toBe('leader-election-namespace');
    expect(envName('leaderElectionNamespace')).toBe('CAPK_PODNET_LEADER_ELECTION_NAMESPACE');
  });
});
