// Shared examples of the network fields: each is fed to the real API server (CRD schema + CEL) and
// to the zod schemas, which must agree on valid/invalid and on the field they name.

export type ExampleKind =
  'KubevirtCluster' | 'KubevirtMachine' | 'KubevirtClusterTemplate' | 'KubevirtMachineTemplate';

export interface NetworkExample {
  name: string;
  kind: ExampleKind;
  network: Record<string, unknown>;
  /** For invalid examples: the field (relative to `network`) the error must name, and a message fragment. */
  invalid?: { field: string; message: string };
}

const pool = { cidrs: ['10.200.0.0/24'] };
const svc = (s: Record<string, unknown>) => ({ ipam: pool, services: [{ name: 'ingress', ...s }] });

export const networkExamples: NetworkExample[] = [
  // valid
  { name: 'minimal pool', kind: 'KubevirtCluster', network: { ipam: pool } },
  {
    name: 'IPAM pool reference',
    kind: 'KubevirtCluster',
    network: {
      ipam: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'nodes' } },
    },
  },
  {
    name: 'everything set',
    kind: 'KubevirtCluster',
    network: {
      ipam: pool,
      gateway: { ipv4: '169.254.1.1', mac: '0a:58:a9:fe:01:01' },
      mtu: 1400,
      dnsServers: ['10.96.0.10', 'fd00::a'],
      isolation: {
        mode: 'Strict',
        allowedEgress: [
          {
            cidr: '0.0.0.0/0',
            except: ['10.0.0.0/8'],
            ports: [{ port: 443 }, { protocol: 'UDP', port: 53, endPort: 54 }],
          },
          {
            namespaceSelector: { matchLabels: { team: 'a' } },
            podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
          },
        ],
        allowedIngress: [{ cidr: '192.168.0.0/16' }],
        controlPlaneNamespace: 'clusters-demo',
      },
      services: [
        {
          name: 'ingress',
          type: 'LoadBalancer',
          role: 'worker',
          ports: [
            { name: 'http', port: 80, targetPort: 30080 },
            { name: 'https', port: 443, targetPort: 30443, nodePort: 31443 },
          ],
          externalTrafficPolicy: 'Local',
          loadBalancerClass: 'example.com/lb',
          annotations: { 'example.com/x': 'y' },
        },
        { name: 'api', type: 'NodePort', role: 'control-plane', ports: [{ port: 6443 }] },
        {
          name: 'dns',
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53 },
          ],
        },
      ],
    },
  },
  {
    name: 'isolation disabled',
    kind: 'KubevirtCluster',
    network: { ipam: pool, isolation: { mode: 'Disabled' } },
  },
  { name: 'machine without pin', kind: 'KubevirtMachine', network: {} },
  {
    name: 'machine pinned',
    kind: 'KubevirtMachine',
    network: { ipv4: '10.200.0.10', mac: '02:00:00:00:00:0a' },
  },
  { name: 'machine template, no pin', kind: 'KubevirtMachineTemplate', network: {} },
  { name: 'cluster template', kind: 'KubevirtClusterTemplate', network: { ipam: pool } },

  // malformed CIDR / IP / MAC
  {
    name: 'CIDR prefix too long',
    kind: 'KubevirtCluster',
    network: { ipam: { cidrs: ['10.200.0.0/33'] } },
    invalid: { field: 'ipam.cidrs[0]', message: 'CIDR' },
  },
  {
    name: 'CIDR with host bits',
    kind: 'KubevirtCluster',
    network: { ipam: { cidrs: ['10.200.0.1/24'] } },
    invalid: { field: 'ipam.cidrs[0]', message: 'host bits zero' },
  },
  {
    name: 'IPv6 pool (not yet)',
    kind: 'KubevirtCluster',
    network: { ipam: { cidrs: ['fd00::/64'] } },
    invalid: { field: 'ipam.cidrs[0]', message: 'IPv4' },
  },
  {
    name: 'CIDR not an address',
    kind: 'KubevirtCluster',
    network: { ipam: { cidrs: ['nodes'] } },
    invalid: { field: 'ipam.cidrs[0]', message: 'CIDR' },
  },
  {
    name: 'cidrs and poolRef',
    kind: 'KubevirtCluster',
    network: {
      ipam: { ...pool, poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'p' } },
    },
    invalid: { field: 'ipam', message: 'exactly one of cidrs and poolRef' },
  },
  {
    name: 'neither cidrs nor poolRef',
    kind: 'KubevirtCluster',
    network: { ipam: {} },
    invalid: { field: 'ipam', message: 'exactly one of cidrs and poolRef' },
  },
  {
    name: 'gateway IP malformed',
    kind: 'KubevirtCluster',
    network: { ipam: pool, gateway: { ipv4: '169.254.1' } },
    invalid: { field: 'gateway.ipv4', message: 'IPv4 address' },
  },
  {
    name: 'gateway IP with leading zero',
    kind: 'KubevirtCluster',
    network: { ipam: pool, gateway: { ipv4: '169.254.01.1' } },
    invalid: { field: 'gateway.ipv4', message: 'IPv4 address' },
  },
  {
    name: 'gateway MAC upper case',
    kind: 'KubevirtCluster',
    network: { ipam: pool, gateway: { mac: '0A:58:A9:FE:01:01' } },
    invalid: { field: 'gateway.mac', message: '' },
  },
  {
    name: 'gateway MAC multicast',
    kind: 'KubevirtCluster',
    network: { ipam: pool, gateway: { mac: '01:00:5e:00:00:01' } },
    invalid: { field: 'gateway.mac', message: '' },
  },
  {
    name: 'gateway inside the pool',
    kind: 'KubevirtCluster',
    network: { ipam: pool, gateway: { ipv4: '10.200.0.1' } },
    invalid: { field: 'gateway.ipv4', message: 'outside ipam.cidrs' },
  },
  {
    name: 'DNS server not an IP',
    kind: 'KubevirtCluster',
    network: { ipam: pool, dnsServers: ['dns.example.com'] },
    invalid: { field: 'dnsServers[0]', message: 'IP address' },
  },
  {
    name: 'MTU too small',
    kind: 'KubevirtCluster',
    network: { ipam: pool, mtu: 576 },
    invalid: { field: 'mtu', message: '' },
  },
  // isolation
  {
    name: 'unknown isolation mode',
    kind: 'KubevirtCluster',
    network: { ipam: pool, isolation: { mode: 'Open' } },
    invalid: { field: 'isolation.mode', message: '' },
  },
  {
    name: 'peer with cidr and selector',
    kind: 'KubevirtCluster',
    network: { ipam: pool, isolation: { allowedEgress: [{ cidr: '10.0.0.0/8', podSelector: {} }] } },
    invalid: { field: 'isolation.allowedEgress[0]', message: 'either cidr' },
  },
  {
    name: 'peer except outside its cidr',
    kind: 'KubevirtCluster',
    network: {
      ipam: pool,
      isolation: { allowedIngress: [{ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] }] },
    },
    invalid: { field: 'isolation.allowedIngress[0].except', message: 'inside' },
  },
  {
    name: 'peer CIDR malformed',
    kind: 'KubevirtCluster',
    network: { ipam: pool, isolation: { allowedEgress: [{ cidr: '10.0.0.0/40' }] } },
    invalid: { field: 'isolation.allowedEgress[0].cidr', message: 'CIDR' },
  },
  {
    name: 'control-plane namespace not a label',
    kind: 'KubevirtCluster',
    network: { ipam: pool, isolation: { controlPlaneNamespace: 'Clusters_Demo' } },
    invalid: { field: 'isolation.controlPlaneNamespace', message: '' },
  },
  // services
  {
    name: 'duplicate service names',
    kind: 'KubevirtCluster',
    network: {
      ipam: pool,
      services: [
        { name: 'a', ports: [{ port: 80 }] },
        { name: 'a', ports: [{ port: 81 }] },
      ],
    },
    invalid: { field: 'services[1]', message: 'uplicate' },
  },
  {
    name: 'duplicate ports',
    kind: 'KubevirtCluster',
    network: svc({
      ports: [
        { name: 'a', port: 80 },
        { name: 'b', port: 80 },
      ],
    }),
    invalid: { field: 'services[0].ports[1]', message: 'uplicate' },
  },
  {
    name: 'port 0',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 0 }] }),
    invalid: { field: 'services[0].ports[0].port', message: '' },
  },
  {
    name: 'port above 65535',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 65536 }] }),
    invalid: { field: 'services[0].ports[0].port', message: '' },
  },
  {
    name: 'nodePort above 65535',
    kind: 'KubevirtCluster',
    network: svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 70000 }] }),
    invalid: { field: 'services[0].ports[0].nodePort', message: '' },
  },
  {
    name: 'targetPort 0',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 80, targetPort: 0 }] }),
    invalid: { field: 'services[0].ports[0].targetPort', message: '' },
  },
  {
    name: 'nodePort on ClusterIP',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 80, nodePort: 30080 }] }),
    invalid: { field: 'services[0].ports', message: 'nodePort needs type' },
  },
  {
    name: 'duplicate nodePort',
    kind: 'KubevirtCluster',
    network: svc({
      type: 'NodePort',
      ports: [
        { name: 'a', port: 80, nodePort: 30080 },
        { name: 'b', port: 81, nodePort: 30080 },
      ],
    }),
    invalid: { field: 'services[0].ports', message: 'unique per protocol' },
  },
  {
    name: 'unnamed ports',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 80 }, { port: 443 }] }),
    invalid: { field: 'services[0].ports', message: 'unique names' },
  },
  {
    name: 'unknown service type',
    kind: 'KubevirtCluster',
    network: svc({ type: 'ExternalName', ports: [{ port: 80 }] }),
    invalid: { field: 'services[0].type', message: '' },
  },
  {
    name: 'unknown role',
    kind: 'KubevirtCluster',
    network: svc({ role: 'infra', ports: [{ port: 80 }] }),
    invalid: { field: 'services[0].role', message: '' },
  },
  {
    name: 'unknown protocol',
    kind: 'KubevirtCluster',
    network: svc({ ports: [{ port: 80, protocol: 'ICMP' }] }),
    invalid: { field: 'services[0].ports[0].protocol', message: '' },
  },
  {
    name: 'unknown externalTrafficPolicy',
    kind: 'KubevirtCluster',
    network: svc({ type: 'NodePort', externalTrafficPolicy: 'Nearest', ports: [{ port: 80 }] }),
    invalid: { field: 'services[0].externalTrafficPolicy', message: '' },
  },
  {
    name: 'externalTrafficPolicy on ClusterIP',
    kind: 'KubevirtCluster',
    network: svc({ externalTrafficPolicy: 'Local', ports: [{ port: 80 }] }),
    invalid: { field: 'services[0].externalTrafficPolicy', message: 'needs type' },
  },
  {
    name: 'loadBalancerClass on NodePort',
    kind: 'KubevirtCluster',
    network: svc({ type: 'NodePort', loadBalancerClass: 'x/y', ports: [{ port: 80 }] }),
    invalid: { field: 'services[0].loadBalancerClass', message: 'needs type LoadBalancer' },
  },
  {
    name: 'service name not a label',
    kind: 'KubevirtCluster',
    network: { ipam: pool, services: [{ name: 'Ingress', ports: [{ port: 80 }] }] },
    invalid: { field: 'services[0].name', message: '' },
  },
  // machines
  {
    name: 'pinned IP malformed',
    kind: 'KubevirtMachine',
    network: { ipv4: '10.200.0.256' },
    invalid: { field: 'ipv4', message: 'IPv4 address' },
  },
  {
    name: 'pinned IP is IPv6',
    kind: 'KubevirtMachine',
    network: { ipv4: 'fd00::1' },
    invalid: { field: 'ipv4', message: 'IPv4 address' },
  },
  {
    name: 'pinned MAC malformed',
    kind: 'KubevirtMachine',
    network: { mac: '02:00:00:00:00' },
    invalid: { field: 'mac', message: '' },
  },
  {
    name: 'pinned IP in a machine template',
    kind: 'KubevirtMachineTemplate',
    network: { ipv4: '10.200.0.10' },
    invalid: { field: '', message: 'template stamps many machines' },
  },
  {
    name: 'cluster template with a bad CIDR',
    kind: 'KubevirtClusterTemplate',
    network: { ipam: { cidrs: ['10.200.0.1/24'] } },
    invalid: { field: 'ipam.cidrs[0]', message: 'host bits zero' },
  },
];
