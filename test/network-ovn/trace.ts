// ovn-trace helpers: microflows of the design's packets, and the SB neighbour entries that
// ovn-trace 23.03 needs. ovn-trace resolves get_arp() from SB MAC_Binding only and ignores
// Static_MAC_Binding, which is what the data plane (ovn-controller) uses. syncTraceNeighbours makes
// MAC_Binding mirror the SB Static_MAC_Binding rows northd derived from the driver's NB rows, so a
// trace follows exactly the neighbours the driver programmed, no more (a missing NB row shows up as
// the router ARPing instead of delivering).
import type { OvnCentral } from '../env/ovn-central.js';

interface SbTable {
  headings: string[];
  data: unknown[][];
}

function uuidOf(v: unknown): string {
  return Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : String(v);
}

async function sbList(ovn: OvnCentral, table: string, columns: string[]): Promise<Record<string, unknown>[]> {
  const out = JSON.parse(
    await ovn.sbctl('--format=json', `--columns=${columns.join(',')}`, 'list', table),
  ) as SbTable;
  return out.data.map((row) => Object.fromEntries(out.headings.map((h, i) => [h, row[i]])));
}

/** Makes SB MAC_Binding equal SB Static_MAC_Binding (after northd has caught up with NB). */
export async function syncTraceNeighbours(ovn: OvnCentral): Promise<void> {
  await ovn.syncSb();
  const statics = await sbList(ovn, 'Static_MAC_Binding', ['logical_port', 'ip', 'mac', 'datapath']);
  const learnt = await sbList(ovn, 'MAC_Binding', ['_uuid', 'logical_port', 'ip', 'mac']);
  const key = (r: Record<string, unknown>) => `${String(r.logical_port)} ${String(r.ip)} ${String(r.mac)}`;
  const want = new Map(statics.map((s) => [key(s), s]));
  const args: string[] = [];
  for (const l of learnt) {
    if (want.has(key(l))) want.delete(key(l));
    else args.push('--', 'destroy', 'MAC_Binding', uuidOf(l._uuid));
  }
  for (const s of want.values()) {
    args.push(
      '--',
      'create',
      'MAC_Binding',
      `datapath=${uuidOf(s.datapath)}`,
      `logical_port=${String(s.logical_port)}`,
      `ip=${String(s.ip)}`,
      `mac="${String(s.mac)}"`,
    );
  }
  if (args.length) await ovn.sbctl(...args.slice(1));
}

export interface L2 {
  port: string;
  mac: string;
  ip: string;
}

export const BROADCAST = 'ff:ff:ff:ff:ff:ff';

/** An ARP request from a port for an IP. */
export function arpRequest(from: L2, targetIp: string): string {
  return [
    `inport == "${from.port}"`,
    `eth.src == ${from.mac}`,
    `eth.dst == ${BROADCAST}`,
    'arp.op == 1',
    `arp.sha == ${from.mac}`,
    `arp.spa == ${from.ip}`,
    'arp.tha == 00:00:00:00:00:00',
    `arp.tpa == ${targetIp}`,
  ].join(' && ');
}

/** A DHCPDISCOVER broadcast from a port. */
export function dhcpDiscover(from: L2): string {
  return [
    `inport == "${from.port}"`,
    `eth.src == ${from.mac}`,
    `eth.dst == ${BROADCAST}`,
    'ip4.src == 0.0.0.0',
    'ip4.dst == 255.255.255.255',
    'ip.ttl == 64',
    'udp.src == 68',
    'udp.dst == 67',
  ].join(' && ');
}

/** A TCP segment from a port to its gateway MAC, toward dstIp. */
export function tcpTo(from: L2, gatewayMac: string, dstIp: string, srcPort = 40000, dstPort = 22): string {
  return [
    `inport == "${from.port}"`,
    `eth.src == ${from.mac}`,
    `eth.dst == ${gatewayMac}`,
    `ip4.src == ${from.ip}`,
    `ip4.dst == ${dstIp}`,
    'ip.ttl == 64',
    'tcp',
    `tcp.src == ${srcPort}`,
    `tcp.dst == ${dstPort}`,
  ].join(' && ');
}

/** The logical ports a trace output to (`output("x")` in --minimal form). */
export function outputs(trace: string): string[] {
  return [...trace.matchAll(/output\("([^"]+)"\)/g)].map((m) => m[1]!);
}

/** The datapaths a --detailed trace entered, in order. */
export function datapaths(trace: string): string[] {
  return [...trace.matchAll(/ingress\(dp="([^"]+)"/g)].map((m) => m[1]!);
}

/** The nodes' gateway routers a (detailed) trace went through, in order. */
export function gatewayRouters(trace: string): string[] {
  return datapaths(trace).filter((d) => d.startsWith('GR_'));
}
