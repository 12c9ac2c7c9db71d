// A stand-in for OVN-Kubernetes' services controller, for the part capk-podnet's exposure relies on:
// each ClusterIP of a Service, with the ready endpoints of the EndpointSlices labelled
// `kubernetes.io/service-name`, becomes one OVN Load_Balancer on every node switch (OVN-Kubernetes
// puts its cluster-wide load balancers on the node switches, so a pod's packet to a cluster IP is
// translated on its own node). One pass per call, from the API server only: the tests call it after
// a change. Node ports and external load balancers are not modelled.
import type { EndpointSlice, Service } from '../../src/controllers/cluster-network/index.js';
import { EndpointSlices, Services } from '../../src/controllers/cluster-network/index.js';
import type { RestClient } from '../../src/runtime/index.js';
import type { OvnCentral } from './ovn-central.js';

/** The load balancers written, by name, with their VIP → backends. */
export async function syncServiceLoadBalancers(
  ovn: OvnCentral,
  client: RestClient,
  namespace: string,
  nodeSwitches: string[],
): Promise<Map<string, string>> {
  const services = (await client.list<Service>(Services, { namespace })).items;
  const slices = (await client.list<EndpointSlice>(EndpointSlices, { namespace })).items;
  const written = new Map<string, string>();
  const cmds: string[][] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const mine = slices.filter(
      (s) => s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
    );
    for (const port of svc.spec?.ports ?? []) {
      const backends = mine.flatMap((s) => {
        const target = (s.ports ?? []).find(
          (p) => p.name === (port.name ?? '') && p.protocol === (port.protocol ?? 'TCP'),
        );
        return target
          ? (s.endpoints ?? [])
              .filter((e) => e.conditions.ready)
              .map((e) => `${e.addresses[0]}:${target.port}`)
          : [];
      });
      const name = `svc_${namespace}_${svc.metadata.name}_${port.port}`;
      cmds.push(['--if-exists', 'lb-del', name]);
      written.set(name, `${ip}:${port.port} → ${backends.join(',') || 'none'}`);
      if (!backends.length) continue;
      cmds.push([
        'lb-add',
        name,
        `${ip}:${port.port}`,
        backends.join(','),
        (port.protocol ?? 'TCP').toLowerCase(),
      ]);
      for (const sw of nodeSwitches) cmds.push(['ls-lb-add', sw, name]);
    }
  }
  await ovn.nbctlTransaction(cmds);
  return written;
}
