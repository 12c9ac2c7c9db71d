// The one source of truth of capk-podnet's API: the OpenAPI v3 schema of the `network` fields that
// are merged into capk's CRDs (crds/, by `npm run generate`, and at run time by the CRD guard).
// Everything the API server can check alone is here (formats, ranges, enums, CEL rules); checks
// that need a second object or the infra cluster's configuration live in validate.ts.
//
// Every list and string is bounded: CEL's cost estimator multiplies by maxItems/maxLength, and
// KubevirtClusterTemplate's `self == oldSelf` rule on the whole spec must stay under the budget.
import type { JsonSchema } from './json-schema.js';

/** Defaults of the network design (OVN-Kubernetes' KubeVirt constants), also applied by the CRD. */
export const DEFAULT_GATEWAY_IPV4 = '169.254.1.1';
export const DEFAULT_GATEWAY_MAC = '0a:58:a9:fe:01:01';

export const LIMITS = {
  cidrs: 2,
  dnsServers: 3,
  peers: 32,
  exceptCidrs: 8,
  peerPorts: 16,
  services: 16,
  servicePorts: 16,
  annotations: 32,
  selectorLabels: 16,
  selectorExpressions: 8,
  selectorValues: 32,
} as const;

export const MTU_MIN = 1280;
export const MTU_MAX = 9216;

/** Lower-case, colon-separated, unicast (the first octet's low bit is 0). */
export const MAC_PATTERN = '^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$';
/** RFC 1123 label, as Kubernetes names of Services and namespaces. */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const str = (description: string, extra: Partial<JsonSchema> = {}): JsonSchema => ({
  type: 'string',
  description,
  ...extra,
});

const ipv4Address = (description: string): JsonSchema =>
  str(description, {
    maxLength: 15,
    'x-kubernetes-validations': [
      {
        rule: 'isIP(self) && ip(self).family() == 4 && ip.isCanonical(self)',
        message: 'must be an IPv4 address in canonical form, e.g. 10.0.0.1',
      },
    ],
  });

const anyIpAddress = (description: string): JsonSchema =>
  str(description, {
    maxLength: 39,
    'x-kubernetes-validations': [
      { rule: 'isIP(self) && ip.isCanonical(self)', message: 'must be an IP address in canonical form' },
    ],
  });

/** A network address: a CIDR whose host bits are zero, so that equal pools compare equal. */
const cidr = (description: string, family?: 4): JsonSchema =>
  str(description, {
    maxLength: family === 4 ? 18 : 43,
    'x-kubernetes-validations': [
      {
        rule:
          family === 4
            ? 'isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self) == cidr(self).masked()'
            : 'isCIDR(self) && cidr(self) == cidr(self).masked()',
        message: `must be ${family === 4 ? 'an IPv4' : 'a'} CIDR with host bits zero, e.g. ${
          family === 4 ? '10.200.0.0/24' : '10.0.0.0/8'
        }`,
      },
    ],
  });

const mac = (description: string): JsonSchema => str(description, { maxLength: 17, pattern: MAC_PATTERN });

const port = (description: string): JsonSchema => ({
  type: 'integer',
  format: 'int32',
  minimum: 1,
  maximum: 65535,
  description,
});

const protocol: JsonSchema = str('Protocol: TCP, UDP or SCTP.', {
  enum: ['TCP', 'UDP', 'SCTP'],
  default: 'TCP',
});

const labelSelector = (description: string): JsonSchema => ({
  type: 'object',
  description,
  'x-kubernetes-map-type': 'atomic',
  properties: {
    matchLabels: {
      type: 'object',
      description: 'Labels that must all match.',
      maxProperties: LIMITS.selectorLabels,
      additionalProperties: { type: 'string', maxLength: 63 },
    },
    matchExpressions: {
      type: 'array',
      description: 'Label requirements that must all hold.',
      maxItems: LIMITS.selectorExpressions,
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: str('Label key.', { maxLength: 317 }),
          operator: str('In, NotIn, Exists or DoesNotExist.', {
            enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
          }),
          values: {
            type: 'array',
            description: 'Values for In and NotIn; empty for Exists and DoesNotExist.',
            maxItems: LIMITS.selectorValues,
            items: { type: 'string', maxLength: 63 },
          },
        },
      },
    },
  },
});

const peer = (direction: 'egress' | 'ingress'): JsonSchema => ({
  type: 'object',
  description:
    direction === 'egress'
      ? 'A destination the tenant VMs may reach beyond the defaults (DNS, their own cluster, the hosted control plane, the internet outside the infra cluster).'
      : 'A source allowed to reach the tenant VMs beyond the defaults (their own cluster and the infra nodes).',
  properties: {
    cidr: cidr('An IP block, outside or inside the infra cluster.'),
    except: {
      type: 'array',
      description: 'Blocks inside `cidr` that stay denied.',
      maxItems: LIMITS.exceptCidrs,
      items: cidr('A block inside `cidr`.'),
    },
    namespaceSelector: labelSelector('Infra cluster namespaces whose pods are the peer.'),
    podSelector: labelSelector(
      'Infra cluster pods that are the peer (in the namespaces of `namespaceSelector`, or in the tenant cluster namespace when that is empty).',
    ),
    ports: {
      type: 'array',
      description: 'Ports the rule opens; every port when empty.',
      maxItems: LIMITS.peerPorts,
      items: {
        type: 'object',
        required: ['port'],
        properties: {
          protocol,
          port: port('Port, or the first port of a range.'),
          endPort: port('Last port of a range that starts at `port`.'),
        },
        'x-kubernetes-validations': [
          {
            rule: '!has(self.endPort) || self.endPort >= self.port',
            message: 'endPort must not be below port',
            fieldPath: '.endPort',
          },
        ],
      },
    },
  },
  'x-kubernetes-validations': [
    {
      rule: 'has(self.cidr) != (has(self.namespaceSelector) || has(self.podSelector))',
      message: 'set either cidr, or namespaceSelector/podSelector',
    },
    {
      rule: '!has(self.except) || (has(self.cidr) && isCIDR(self.cidr) && self.except.all(e, isCIDR(e) && cidr(self.cidr).containsCIDR(e)))',
      message: 'except needs cidr, and each entry must lie inside it',
      fieldPath: '.except',
    },
  ],
});

const servicePort: JsonSchema = {
  type: 'object',
  required: ['port'],
  properties: {
    name: str('Name of the port; required when the service has more than one.', {
      maxLength: 63,
      pattern: DNS_LABEL_PATTERN,
    }),
    protocol,
    port: port('Port of the infra Service.'),
    targetPort: port(
      'Port on the tenant VMs the traffic goes to (a number: VMs have no named container ports). Defaults to `port`.',
    ),
    nodePort: port(
      "Fixed node port on the infra nodes (NodePort and LoadBalancer only); allocated by the infra cluster when unset. Must be inside the infra cluster's node-port range, checked by the controller.",
    ),
  },
};

const service: JsonSchema = {
  type: 'object',
  description: 'An infra cluster Service that exposes the tenant VMs of one role.',
  required: ['name', 'ports'],
  properties: {
    name: str('Name of the exposure, unique in the cluster; the infra Service is named `<cluster>-<name>`.', {
      maxLength: 63,
      pattern: DNS_LABEL_PATTERN,
    }),
    type: str('Service type in the infra cluster.', {
      enum: ['ClusterIP', 'NodePort', 'LoadBalancer'],
      default: 'ClusterIP',
    }),
    role: str('Which VMs are the endpoints: the worker nodes or the control-plane nodes.', {
      enum: ['worker', 'control-plane'],
      default: 'worker',
    }),
    ports: {
      type: 'array',
      description: 'Ports of the Service; unique by port and protocol.',
      minItems: 1,
      maxItems: LIMITS.servicePorts,
      items: servicePort,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['port', 'protocol'],
      'x-kubernetes-validations': [
        {
          rule: 'size(self) == 1 || self.all(p, has(p.name) && self.exists_one(q, has(q.name) && q.name == p.name))',
          message: 'ports need unique names when there is more than one',
        },
        {
          rule: 'self.all(p, !has(p.nodePort) || self.exists_one(q, has(q.nodePort) && q.nodePort == p.nodePort && q.protocol == p.protocol))',
          message: 'nodePort values must be unique per protocol',
        },
      ],
    },
    externalTrafficPolicy: str(
      'Cluster or Local, as the Service field (NodePort and LoadBalancer only). Local keeps client source IPs and sends traffic only to VMs on the receiving node.',
      { enum: ['Cluster', 'Local'] },
    ),
    loadBalancerClass: str('Load-balancer implementation to use (LoadBalancer only).', { maxLength: 253 }),
    annotations: {
      type: 'object',
      description: 'Annotations for the infra Service, e.g. for a load-balancer implementation.',
      maxProperties: LIMITS.annotations,
      additionalProperties: { type: 'string', maxLength: 4096 },
    },
  },
  'x-kubernetes-validations': [
    {
      rule: "self.type != 'ClusterIP' || self.ports.all(p, !has(p.nodePort))",
      message: 'nodePort needs type NodePort or LoadBalancer',
      fieldPath: '.ports',
    },
    {
      rule: "self.type != 'ClusterIP' || !has(self.externalTrafficPolicy)",
      message: 'externalTrafficPolicy needs type NodePort or LoadBalancer',
      fieldPath: '.externalTrafficPolicy',
    },
    {
      rule: "self.type == 'LoadBalancer' || !has(self.loadBalancerClass)",
      message: 'loadBalancerClass needs type LoadBalancer',
      fieldPath: '.loadBalancerClass',
    },
  ],
};

/** `KubevirtCluster.spec.network` (and `KubevirtClusterTemplate.spec.template.spec.network`). */
export const clusterNetworkSpecSchema: JsonSchema = {
  type: 'object',
  description:
    'Pod-network design of the tenant cluster (capk-podnet): stable node IPs, gateway, isolation and exposure. Without it capk-podnet leaves the cluster alone.',
  required: ['ipam'],
  properties: {
    ipam: {
      type: 'object',
      description: 'Where the stable node IPs come from: CIDRs of this cluster, or a Cluster API IPAM pool.',
      properties: {
        cidrs: {
          type: 'array',
          description:
            "Ranges of stable node IPs for this cluster's VMs, inside the infra cluster's pod network. IPv4 only for now (one entry); the list leaves room for an IPv6 range.",
          minItems: 1,
          maxItems: LIMITS.cidrs,
          items: cidr('A range of node IPs.', 4),
          'x-kubernetes-list-type': 'set',
        },
        poolRef: {
          type: 'object',
          description: 'A Cluster API IPAM pool (`ipam.cluster.x-k8s.io` contract) in the cluster namespace.',
          required: ['apiGroup', 'kind', 'name'],
          properties: {
            apiGroup: str('API group of the pool kind.', { maxLength: 253, minLength: 1 }),
            kind: str('Kind of the pool, e.g. InClusterIPPool.', { maxLength: 63, minLength: 1 }),
            name: str('Name of the pool.', { maxLength: 253, minLength: 1 }),
          },
          'x-kubernetes-map-type': 'atomic',
        },
      },
      'x-kubernetes-validations': [
        { rule: 'has(self.cidrs) != has(self.poolRef)', message: 'set exactly one of cidrs and poolRef' },
      ],
    },
    gateway: {
      type: 'object',
      description:
        'The default gateway the VMs get by DHCP; the same on every infra node, answered by ARP proxy, so that it survives live migration.',
      default: {},
      properties: {
        ipv4: { ...ipv4Address('IPv4 gateway address.'), default: DEFAULT_GATEWAY_IPV4 },
        mac: { ...mac('MAC address the gateway answers with.'), default: DEFAULT_GATEWAY_MAC },
      },
    },
    mtu: {
      type: 'integer',
      format: 'int32',
      minimum: MTU_MIN,
      maximum: MTU_MAX,
      description: "MTU offered to the VMs by DHCP. Defaults to the infra cluster's pod-network MTU.",
    },
    dnsServers: {
      type: 'array',
      description: "DNS servers offered by DHCP. Defaults to the infra cluster's DNS Service IP.",
      maxItems: LIMITS.dnsServers,
      items: anyIpAddress('A DNS server address.'),
    },
    isolation: {
      type: 'object',
      description: 'Network isolation of the tenant VMs in the infra cluster.',
      default: {},
      properties: {
        mode: str(
          'Strict: the VMs reach and are reached by their own cluster, DNS, the hosted control plane and the allowed peers only. Disabled: no isolation rules.',
          { enum: ['Strict', 'Disabled'], default: 'Strict' },
        ),
        allowedEgress: {
          type: 'array',
          description: 'Extra destinations the VMs may reach.',
          maxItems: LIMITS.peers,
          items: peer('egress'),
        },
        allowedIngress: {
          type: 'array',
          description: 'Extra sources that may reach the VMs.',
          maxItems: LIMITS.peers,
          items: peer('ingress'),
        },
        controlPlaneNamespace: str(
          'Infra namespace of a hosted control plane (e.g. Kamaji, HyperShift) whose pods the VMs may reach and be reached by.',
          { maxLength: 63, pattern: DNS_LABEL_PATTERN },
        ),
      },
    },
    services: {
      type: 'array',
      description: 'Infra cluster Services that expose the tenant VMs; unique by name.',
      maxItems: LIMITS.services,
      items: service,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
  },
  'x-kubernetes-validations': [
    {
      rule: '!has(self.ipam.cidrs) || !has(self.gateway) || !has(self.gateway.ipv4) || !isIP(self.gateway.ipv4) || self.ipam.cidrs.all(c, !isCIDR(c) || !cidr(c).containsIP(self.gateway.ipv4))',
      message: 'the gateway must lie outside ipam.cidrs',
      fieldPath: '.gateway.ipv4',
    },
  ],
};

const servicePortStatus: JsonSchema = {
  type: 'object',
  properties: {
    name: str('Port name.', { maxLength: 63 }),
    protocol: str('Protocol.', { maxLength: 8 }),
    port: { type: 'integer', format: 'int32', description: 'Service port.' },
    nodePort: { type: 'integer', format: 'int32', description: 'Allocated node port.' },
  },
};

/** `KubevirtCluster.status.network`. */
export const clusterNetworkStatusSchema: JsonSchema = {
  type: 'object',
  description: 'Observed state of the tenant cluster network (capk-podnet).',
  properties: {
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'Generation of the KubevirtCluster this status was computed from.',
    },
    ipam: {
      type: 'object',
      description: 'Usage of the stable node-IP range.',
      properties: {
        size: { type: 'integer', format: 'int64', minimum: 0, description: 'Usable addresses.' },
        allocated: {
          type: 'integer',
          format: 'int64',
          minimum: 0,
          description: 'Addresses assigned to machines.',
        },
        free: { type: 'integer', format: 'int64', minimum: 0, description: 'Addresses left.' },
      },
    },
    services: {
      type: 'array',
      description: 'Observed infra Services, one per spec.network.services entry.',
      maxItems: LIMITS.services,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: str('Name of the exposure in spec.network.services.', { maxLength: 63 }),
          serviceName: str('Name of the infra Service.', { maxLength: 253 }),
          clusterIP: str('Cluster IP of the infra Service.', { maxLength: 39 }),
          ports: {
            type: 'array',
            description: 'Ports with their allocated node ports.',
            maxItems: LIMITS.servicePorts,
            items: servicePortStatus,
          },
          loadBalancer: {
            type: 'object',
            description: 'Load-balancer ingress points, as in the Service status.',
            properties: {
              ingress: {
                type: 'array',
                maxItems: 16,
                items: {
                  type: 'object',
                  properties: {
                    ip: str('Ingress IP.', { maxLength: 39 }),
                    hostname: str('Ingress hostname.', { maxLength: 253 }),
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** `KubevirtMachine.spec.network`. Pinned values are immutable once set (rule on the parent). */
export const machineNetworkSpecSchema: JsonSchema = {
  type: 'object',
  description:
    'Pinned network identity of this machine (capk-podnet); assigned from the cluster pool when unset.',
  properties: {
    ipv4: ipv4Address(
      "Pinned IPv4 address; must lie in the cluster's ipam range (checked by the controller). Immutable once set.",
    ),
    mac: mac('Pinned MAC address (lower-case, unicast). Immutable once set.'),
  },
};

/** Rules on `KubevirtMachine.spec` that keep the pinned identity from changing once set. */
export const machineSpecRules: JsonSchema['x-kubernetes-validations'] = [
  {
    rule: '!has(oldSelf.network) || !has(oldSelf.network.ipv4) || (has(self.network) && has(self.network.ipv4) && self.network.ipv4 == oldSelf.network.ipv4)',
    message: 'network.ipv4 is immutable once set',
    fieldPath: '.network.ipv4',
  },
  {
    rule: '!has(oldSelf.network) || !has(oldSelf.network.mac) || (has(self.network) && has(self.network.mac) && self.network.mac == oldSelf.network.mac)',
    message: 'network.mac is immutable once set',
    fieldPath: '.network.mac',
  },
];

/** Rules on `KubevirtMachineTemplate.spec.template.spec`: a template stamps many machines. */
export const machineTemplateSpecRules: JsonSchema['x-kubernetes-validations'] = [
  {
    rule: '!has(self.network) || (!has(self.network.ipv4) && !has(self.network.mac))',
    message: 'a template stamps many machines: network.ipv4 and network.mac belong on a KubevirtMachine',
    fieldPath: '.network',
  },
];

/** `KubevirtMachine.status.network`. */
export const machineNetworkStatusSchema: JsonSchema = {
  type: 'object',
  description: 'Observed network state of this machine (capk-podnet).',
  properties: {
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'Generation of the KubevirtMachine this status was computed from.',
    },
    ipv4: str('Stable IPv4 address assigned to the VM.', { maxLength: 15 }),
    mac: str('MAC address of the VM interface on the pod network.', { maxLength: 17 }),
    gateway: str('Gateway the VM uses.', { maxLength: 39 }),
    node: str('Infra node that runs the VM now.', { maxLength: 253 }),
    phase: str(
      'Pending: not yet programmed; Ready: reachable at its IP; Migrating: live migration in progress.',
      {
        enum: ['Pending', 'Ready', 'Migrating'],
      },
    ),
    lastMigration: {
      type: 'object',
      description: 'The last live migration the network followed.',
      properties: {
        from: str('Source infra node.', { maxLength: 253 }),
        to: str('Target infra node.', { maxLength: 253 }),
        startedAt: str('When the migration started.', { format: 'date-time' }),
        completedAt: str('When routes pointed at the target.', { format: 'date-time' }),
        cutoverMilliseconds: {
          type: 'integer',
          format: 'int64',
          minimum: 0,
          description: 'Time from the target being ready to the routes pointing at it.',
        },
      },
    },
  },
};

/** Added to the items of capk's `status.conditions`, so that capk-podnet's conditions carry it. */
export const conditionObservedGeneration: JsonSchema = {
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description:
    'Generation the condition was computed from (set by capk-podnet on its own conditions; capk leaves it unset).',
};
