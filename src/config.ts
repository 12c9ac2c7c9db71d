// The manager's configuration: command-line flags over CAPK_PODNET_* environment variables over
// defaults, validated by one zod schema. Flag `--leader-elect` ↔ env `CAPK_PODNET_LEADER_ELECT`.
import { parseArgs } from 'node:util';
import { z } from 'zod';

const boolish = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');
const csv = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s !== ''));
const ms = z.coerce.number().int().positive();
const bindAddress = z.string().regex(/^(0|([^:]*:\d{1,5}))$/, 'host:port, :port or 0 (disabled)');

export const ConfigSchema = z
  .object({
    /** Path to a kubeconfig; unset: in-cluster when running in a pod, else the default loading rules. */
    kubeconfig: z.string().min(1).optional(),
    /** Namespaces to watch; empty: all. */
    namespaces: csv.default([]),
    /** Workers per controller. */
    concurrency: z.coerce.number().int().min(1).max(64).default(4),
    leaderElect: boolish.default(true),
    leaderElectionNamespace: z.string().min(1).default('capk-podnet-system'),
    leaderElectionId: z.string().min(1).default('capk-podnet'),
    leaseDurationMs: ms.default(15_000),
    renewDeadlineMs: ms.default(10_000),
    retryPeriodMs: ms.default(2_000),
    /** ovnkube: annotations for OVN-Kubernetes only; ovn: program the OVN northbound DB directly. */
    networkDriver: z.enum(['ovnkube', 'ovn']).default('ovnkube'),
    /** OVN NB database, e.g. tcp:10.0.0.1:6641 or unix:/var/run/ovn/ovnnb_db.sock (driver ovn). */
    ovnNbAddress: z
      .string()
      .regex(/^(tcp|ssl):[^:]+:\d+$|^unix:.+$/, 'tcp:HOST:PORT, ssl:HOST:PORT or unix:PATH')
      .optional(),
    /**
     * Live-migration handover of the ovn driver: two-ports (routes flip at target-ready) or
     * multi-chassis (one port bound on both chassis during the migration).
     */
    ovnMigration: z.enum(['two-ports', 'multi-chassis']).default('two-ports'),
    /** multi-chassis: rarp (target blocked until the VM's RARP) or none (both chassis receive). */
    ovnMultiChassisActivation: z.enum(['rarp', 'none']).default('rarp'),
    /**
     * Set the shared gateway up on every node switch ahead of any VM (on OVN 23.03 that changes the
     * node router port's MAC: better at install than when a first VM lands). false: with the first VM.
     */
    ovnGatewayOnEveryNode: boolish.default(true),
    /** TLS material for ssl: NB addresses. */
    ovnNbCaFile: z.string().min(1).optional(),
    ovnNbCertFile: z.string().min(1).optional(),
    ovnNbKeyFile: z.string().min(1).optional(),
    /** Watch capk's CRDs and put the network schema back when an upgrade drops it (ADR 0011). */
    crdGuard: boolish.default(true),
    /** DNS servers handed to VMs whose cluster sets none: the infra cluster's DNS Service IP. */
    infraDnsServers: csv.default(['10.96.0.10']),
    /**
     * The infra cluster's --service-node-port-range (as kube-apiserver spells it): fixed node ports
     * of spec.network.services outside it are refused before any Service is written.
     */
    serviceNodePortRange: z
      .string()
      .regex(/^\d{1,5}-\d{1,5}$/, 'MIN-MAX, e.g. 30000-32767')
      .default('30000-32767')
      .transform((r) => {
        const [min, max] = r.split('-').map(Number) as [number, number];
        return { min, max };
      })
      .refine((r) => r.min >= 1 && r.min <= r.max && r.max <= 65535, 'need 1 <= MIN <= MAX <= 65535'),
    /** MTU handed to VMs whose cluster sets none (the infra pod network's); unset: none. */
    podNetworkMtu: z.coerce.number().int().min(576).max(9000).optional(),
    /** The VirtualMachine admission webhook's listen address; 0 disables it. */
    webhookBindAddress: bindAddress.default(':9443'),
    /** Folder with the webhook's tls.crt and tls.key (cert-manager's Secret mounted). */
    webhookCertDir: z.string().min(1).default('/tmp/k8s-webhook-server/serving-certs'),
    logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    logFormat: z.enum(['json', 'text']).default('json'),
    metricsBindAddress: bindAddress.default(':8080'),
    healthProbeBindAddress: bindAddress.default(':8081'),
    /** Re-reconcile everything this often (0: never). */
    syncPeriodMs: z.coerce.number().int().min(0).default(600_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.networkDriver === 'ovn' && !c.ovnNbAddress)
      ctx.addIssue({ code: 'custom', path: ['ovnNbAddress'], message: 'required with --network-driver=ovn' });
    if (c.ovnNbAddress?.startsWith('ssl:') && !(c.ovnNbCaFile && c.ovnNbCertFile && c.ovnNbKeyFile))
      ctx.addIssue({
        code: 'custom',
        path: ['ovnNbCaFile'],
        message: 'ssl: NB addresses need --ovn-nb-ca-file, --ovn-nb-cert-file and --ovn-nb-key-file',
      });
    if (!(c.leaseDurationMs > c.renewDeadlineMs && c.renewDeadlineMs > c.retryPeriodMs))
      ctx.addIssue({
        code: 'custom',
        path: ['leaseDurationMs'],
        message: 'need lease duration > renew deadline > retry period',
      });
  });

export type Config = z.infer<typeof ConfigSchema>;

const KEYS = Object.keys(ConfigSchema.shape) as (keyof Config)[];

export const flagName = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (k: string): string =>
  `CAPK_PODNET_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export type ConfigResult =
  { success: true; config: Config } | { success: false; errors: string[] } | { success: 'help' };

/** Reads flags and environment; never throws, never exits. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ConfigResult {
  const options = Object.fromEntries([
    ...KEYS.map((k) => [flagName(k), { type: 'string' as const }]),
    ['help', { type: 'boolean' as const, short: 'h' }],
  ]);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
      .values as typeof values;
  } catch (e) {
    return { success: false, errors: [e instanceof Error ? e.message : String(e)] };
  }
  if (values.help) return { success: 'help' };
  const raw: Record<string, unknown> = {};
  for (const k of KEYS) {
    const v = values[flagName(k)] ?? env[envName(k)];
    if (v !== undefined) raw[k] = v;
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (parsed.success) return { success: true, config: parsed.data };
  return {
    success: false,
    errors: parsed.error.issues.map((i) => {
      const k = String(i.path[0] ?? '');
      return k ? `--${flagName(k)} (${envName(k)}): ${i.message}` : i.message;
    }),
  };
}

export function usage(): string {
  return [
    'usage: capk-podnet [flags]   (every flag also reads CAPK_PODNET_<FLAG_IN_UPPER_SNAKE_CASE>)',
    ...KEYS.map((k) => `  --${flagName(k)}  (${envName(k)})`),
  ].join('\n');
}
