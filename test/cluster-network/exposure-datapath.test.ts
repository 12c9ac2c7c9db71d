// Exposure with real packets: a pod on another infra node connects to the cluster IP of a tenant's
// infra Service and reaches the server in the VM's guest, before and after the VM live-migrates.
// What capk-podnet writes (the Service, the EndpointSlice of the VM's stable IP, the VM's port and
// routes) is real; OVN-Kubernetes' services controller is stood in by test/env/service-proxy.ts,
// which turns the Service and the slice into an OVN Load_Balancer on the node switches.
import type { ChildProcess } from 'node:child_process';
import type { Service } from '../../src/controllers/cluster-network/index.js';
import { Services } from '../../src/controllers/cluster-network/index.js';
import { testKubeConfig } from '../env/kube.js';
import { waitFor } from '../env/processes.js';
import { syncServiceLoadBalancers } from '../env/service-proxy.js';
import { TenantWorld } from '../env/tenant-world.js';
import { datapathUnavailable } from '../datapath/netns.js';
import { awaitText, readText, serveText } from '../datapath/tcp-hello.js';

const kc = testKubeConfig();
const unavailable = datapathUnavailable();
if (unavailable) console.warn(`test/cluster-network exposure datapath skipped: ${unavailable}`);
const suite = unavailable ? describe.skip : describe;

suite('exposure on the real datapath', () => {
  let w: TenantWorld;
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    w = await TenantWorld.start({
      kc,
      prefix: 'expo',
      nodes: 3,
      datapath: true,
      timing: { migrationMs: 100 },
    });
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    await w?.stop();
  });

  it("reaches the VM through its Service's cluster IP from another node, also after a live migration", async () => {
    await w.createCluster('t', {
      ipam: { cidrs: ['10.100.0.0/24'] },
      dnsServers: ['10.96.0.10'],
      services: [{ name: 'web', role: 'worker', ports: [{ port: 8080, targetPort: 80 }] }],
    });
    await w.createMachine('t', 't-w1');
    const ready = await w.networkReadyOn('t-w1');
    const ip = ready.status!.network!.ipv4!;
    const guest = await w.datapath!.waitGuest(w.ns, 't-w1');
    await guest.waitLease(30_000);
    // The VM's own server, on the port the Service targets.
    server = serveText(guest.netns, 80, 'hello from t-w1');
    const svc = await waitFor(
      'Service t-web',
      async () => w.client.tryGet<Service>(Services, 't-web', w.ns),
      20_000,
    );
    const clusterIP = svc.spec!.clusterIP!;
    const switches = w.nodes.map((n) => n.name);
    const answer = (node: string, host: string, port: number) =>
      awaitText(w.datapath!.pod(node).netns, host, port);

    const from = await w.vmiNode('t-w1');
    const other = w.nodes.find((n) => n.name !== from)!.name;
    // The server answers at the VM's own IP; nothing answers at the cluster IP until the load
    // balancer is there: the path below is through it.
    expect(await answer(other, ip, 80)).toBe('hello from t-w1');
    expect(await readText(w.datapath!.pod(other).netns, clusterIP, 8080)).toBe('');

    // The slice lists the VM by its stable IP; the load balancer sends the pod to it.
    const lbs = await syncServiceLoadBalancers(w.ovn, w.client, w.ns, switches);
    expect([...lbs.values()]).toContain(`${clusterIP}:8080 → ${ip}:80`);
    expect(await answer(other, clusterIP, 8080)).toBe('hello from t-w1');

    // After a live migration the same cluster IP still reaches it (same endpoint IP, routes moved).
    const { phase } = await w.migrate('t-w1', 60_000);
    expect(phase).toBe('Succeeded');
    const to = await w.vmiNode('t-w1');
    expect(to).not.toBe(from);
    await w.networkReadyOn('t-w1', to);
    await syncServiceLoadBalancers(w.ovn, w.client, w.ns, switches);
    expect(await answer(from, clusterIP, 8080)).toBe('hello from t-w1');
  });
});
