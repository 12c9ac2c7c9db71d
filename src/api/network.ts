// Runtime validation of the network fields (controller input) with zod, and every default in
// one place: the CRD's defaults (mirrored here with the same constants) and the run-time ones that
// only the infra cluster knows (DNS, MTU). These schemas mirror network-schema.ts rule for rule; a
// test feeds the same examples to both and to the real API server, so drift fails CI.
import { z } from 'zod';
import { cidrContainsCidr, cidrContainsIp, isCanonicalIp, isMasked, parseCidr, parseIp } from './ip.js';
import {
  DEFAULT_GATEWAY_IPV4,
  DEFAULT_GATEWAY_MAC,
  DNS_LABEL_PATTERN,
  LIMITS,
  MAC_PATTERN,
  MTU_MAX,
  MTU_MIN,
} from './network-schema.js';

const ipv4 = z
  .string()
  .max(15)
  .refine((s) => parseIp(s)?.family === 4 && isCanonicalIp(s), {
    message: 'must be an IPv4 address in canonical form, e.g. 10.0.0.1',
  });
const anyIp = z
  .string()
  .max(39)
  .refine(isCanonicalIp, { message: 'must be an IP address in canonical form' });
const cidrOf = (family?: 4) =>
  z
    .string()
    .max(family === 4 ? 18 : 43)
    .refine(
      (s) => {
        const c = parseCidr(s);
        return c !== undefined && isMasked(c) && (family === undefined || c.ip.family === family);
      },
      { message: `must be ${family === 4 ? 'an IPv4' : 'a'} CIDR with host bits zero` },
    );
const mac = z.string().max(17).regex(new RegExp(MAC_PATTERN), 'must be a lower-case unicast MAC address');
const dnsLabel = z.string().max(63).regex(new RegExp(DNS_LABEL_PATTERN), 'must be an RFC 1123 label');
const port = z.int().min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']).default('TCP');

const labelSelector = z.object({
  matchLabels: z
    .record(z.string(), z.string().max(63))
    .refine((m) => Object.keys(m).length <= LIMITS.selectorLabels, { message: 'too many labels' })
    .optional(),
  matchExpressions: z
    .array(
      z.object({
        key: z.string().max(317),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string().max(63)).max(LIMITS.selectorValues).optional(),
      }),
    )
    .max(LIMITS.selectorExpressions)
    .optional(),
});

const peer = z
  .object({
    cidr: cidrOf().optional(),
    except: z.array(cidrOf()).max(LIMITS.exceptCidrs).optional(),
    namespaceSelector: labelSelector.optional(),
    podSelector: labelSelector.optional(),
    ports: z
      .array(
        z
          .object({ protocol, port, endPort: port.optional() })
          .refine((p) => p.endPort === undefined || p.endPort >= p.port, {
            message: 'endPort must not be below port',
            path: ['endPort'],
          }),
      )
      .max(LIMITS.peerPorts)
      .optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.cidr !== undefined) === (p.namespaceSelector !== undefined || p.podSelector !== undefined))
      ctx.addIssue({ code: 'custom', message: 'set either cidr, or namespaceSelector/podSelector' });
    if (p.except !== undefined) {
      const outer = p.cidr === undefined ? undefined : parseCidr(p.cidr);
      const inside = p.except.every((e) => {
        const inner = parseCidr(e);
        return outer !== undefined && inner !== undefined && cidrContainsCidr(outer, inner);
      });
      if (!inside)
        ctx.addIssue({
          code: 'custom',
          message: 'except needs cidr, and each entry must lie inside it',
          path: ['except'],
        });
    }
  });

const servicePort = z.object({
  name: dnsLabel.optional(),
  protocol,
  port,
  targetPort: port.optional(),
  nodePort: port.optional(),
});

const service = z
  .object({
    name: dnsLabel,
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP'),
    role: z.enum(['worker', 'control-plane']).default('worker'),
    ports: z.array(servicePort).min(1).max(LIMITS.servicePorts),
    externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
    loadBalancerClass: z.string().max(253).optional(),
    annotations: z
      .record(z.string(), z.string().max(4096))
      .refine((m) => Object.keys(m).length <= LIMITS.annotations, { message: 'too many annotations' })
      .optional(),
  })
  .superRefine((s, ctx) => {
    s.ports.forEach((p, i) => {
      if (s.ports.findIndex((q) => q.port === p.port && q.protocol === p.protocol) < i)
        ctx.addIssue({ code: 'custom', message: 'duplicate port and protocol', path: ['ports', i] });
    });
    const names = s.ports.map((p) => p.name);
    if (s.ports.length > 1 && names.some((n, i) => n === undefined || names.indexOf(n) !== i))
      ctx.addIssue({
        code: 'custom',
        message: 'ports need unique names when there is more than one',
        path: ['ports'],
      });
    const nodePorts = s.ports
      .filter((p) => p.nodePort !== undefined)
      .map((p) => `${p.nodePort}/${p.protocol}`);
    if (new Set(nodePorts).size !== nodePorts.length)
      ctx.addIssue({
        code: 'custom',
        message: 'nodePort values must be unique per protocol',
        path: ['ports'],
      });
    if (s.type === 'ClusterIP' && s.ports.some((p) => p.nodePort !== undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'nodePort needs type NodePort or LoadBalancer',
        path: ['ports'],
      });
    if (s.type === 'ClusterIP' && s.externalTrafficPolicy !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'externalTrafficPolicy needs type NodePort or LoadBalancer',
        path: ['externalTrafficPolicy'],
      });
    if (s.type !== 'LoadBalancer' && s.loadBalancerClass !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'loadBalancerClass needs type LoadBalancer',
        path: ['loadBalancerClass'],
      });
  });

const ipam = z
  .object({
    cidrs: z
      .array(cidrOf(4))
      .min(1)
      .max(LIMITS.cidrs)
      .refine((l) => new Set(l).size === l.length, { message: 'duplicate CIDR' })
      .optional(),
    poolRef: z
      .object({
        apiGroup: z.string().min(1).max(253),
        kind: z.string().min(1).max(63),
        name: z.string().min(1).max(253),
      })
      .optional(),
  })
  .refine((i) => (i.cidrs !== undefined) !== (i.poolRef !== undefined), {
    message: 'set exactly one of cidrs and poolRef',
  });

/** `KubevirtCluster.spec.network`; parsing applies the CRD's defaults. */
export const clusterNetworkSpec = z
  .object({
    ipam,
    gateway: z
      .object({ ipv4: ipv4.default(DEFAULT_GATEWAY_IPV4), mac: mac.default(DEFAULT_GATEWAY_MAC) })
      .prefault({}),
    mtu: z.int().min(MTU_MIN).max(MTU_MAX).optional(),
    dnsServers: z.array(anyIp).max(LIMITS.dnsServers).optional(),
    isolation: z
      .object({
        mode: z.enum(['Strict', 'Disabled']).default('Strict'),
        allowedEgress: z.array(peer).max(LIMITS.peers).optional(),
        allowedIngress: z.array(peer).max(LIMITS.peers).optional(),
        controlPlaneNamespace: dnsLabel.optional(),
      })
      .prefault({}),
    services: z
      .array(service)
      .max(LIMITS.services)
      .superRefine((l, ctx) => {
        l.forEach((s, i) => {
          if (l.findIndex((t) => t.name === s.name) < i)
            ctx.addIssue({ code: 'custom', message: 'duplicate service name', path: [i] });
        });
      })
      .optional(),
  })
  .superRefine((n, ctx) => {
    const gw = parseIp(n.gateway.ipv4);
    const inPool = (n.ipam.cidrs ?? []).some((c) => {
      const pool = parseCidr(c);
      return gw !== undefined && pool !== undefined && cidrContainsIp(pool, gw);
    });
    if (inPool)
      ctx.addIssue({
        code: 'custom',
        message: 'the gateway must lie outside ipam.cidrs',
        path: ['gateway', 'ipv4'],
      });
  });

/** `KubevirtMachine.spec.network`. */
export const machineNetworkSpec = z.object({ ipv4: ipv4.optional(), mac: mac.optional() });

/** `KubevirtMachineTemplate.spec.template.spec.network`: no per-machine identity. */
export const machineTemplateNetworkSpec = machineNetworkSpec.refine(
  (n) => n.ipv4 === undefined && n.mac === undefined,
  { message: 'a template stamps many machines: network.ipv4 and network.mac belong on a KubevirtMachine' },
);

export const clusterNetworkStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  ipam: z
    .object({ size: z.int().min(0), allocated: z.int().min(0), free: z.int().min(0) })
    .partial()
    .optional(),
  services: z
    .array(
      z.object({
        name: z.string(),
        serviceName: z.string().optional(),
        clusterIP: z.string().optional(),
        ports: z
          .array(
            z.object({
              name: z.string().optional(),
              protocol: z.string().optional(),
              port: z.int().optional(),
              nodePort: z.int().optional(),
            }),
          )
          .optional(),
        loadBalancer: z
          .object({
            ingress: z
              .array(z.object({ ip: z.string().optional(), hostname: z.string().optional() }))
              .optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

export const machineNetworkPhase = z.enum(['Pending', 'Ready', 'Migrating']);

export const machineNetworkStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  ipv4: z.string().optional(),
  mac: z.string().optional(),
  gateway: z.string().optional(),
  node: z.string().optional(),
  phase: machineNetworkPhase.optional(),
  lastMigration: z
    .object({
      from: z.string().optional(),
      to: z.string().optional(),
      startedAt: z.string().optional(),
      completedAt: z.string().optional(),
      cutoverMilliseconds: z.int().min(0).optional(),
    })
    .optional(),
});

export type ClusterNetworkSpecInput = z.input<typeof clusterNetworkSpec>;
export type ClusterNetworkSpec = z.output<typeof clusterNetworkSpec>;
export type MachineNetworkSpec = z.output<typeof machineNetworkSpec>;
export type ClusterNetworkStatus = z.output<typeof clusterNetworkStatus>;
export type MachineNetworkStatus = z.output<typeof machineNetworkStatus>;
export type MachineNetworkPhase = z.output<typeof machineNetworkPhase>;
export type NetworkService = ClusterNetworkSpec['services'] extends (infer S)[] | undefined ? S : never;

/** What only the infra cluster knows, for the run-time defaults. */
export interface InfraNetworkFacts {
  /** ClusterIP of the infra cluster's DNS Service (kube-system/kube-dns). */
  clusterDnsIP: string;
  /** MTU of the infra pod network. */
  podNetworkMtu: number;
}

/** The cluster network with every default applied: the one shape the controllers work with. */
export type ResolvedClusterNetwork = Omit<ClusterNetworkSpec, 'dnsServers' | 'mtu' | 'services'> & {
  dnsServers: string[];
  mtu: number;
  services: (NetworkService & { ports: (NetworkService['ports'][number] & { targetPort: number })[] })[];
};

/** All defaults in one place: the CRD's (by parsing) and the infra cluster's. */
export function withDefaults(
  spec: ClusterNetworkSpecInput,
  infra: InfraNetworkFacts,
): ResolvedClusterNetwork {
  const parsed = clusterNetworkSpec.parse(spec);
  return {
    ...parsed,
    dnsServers: parsed.dnsServers?.length ? parsed.dnsServers : [infra.clusterDnsIP],
    mtu: parsed.mtu ?? infra.podNetworkMtu,
    services: (parsed.services ?? []).map((s) => ({
      ...s,
      ports: s.ports.map((p) => ({ ...p, targetPort: p.targetPort ?? p.port })),
    })),
  };
}
