// The annotations OVN-Kubernetes reads and writes for a KubeVirt VM on its pod network, as pure
// functions: what the VM template should ask for (`v1.multus-cni.io/default-network`, the
// live-migration opt-in) and what OVN-Kubernetes answered on the virt-launcher pod
// (`k8s.ovn.org/pod-networks`). Names and field spellings follow OVN-Kubernetes
// (go-controller/pkg/util/pod_annotation.go) and multus' NetworkSelectionElement.
import { z } from 'zod';
import { KubevirtAnnotations } from '../../kubevirt/resources.js';

/** Written by OVN-Kubernetes' controller on every pod it has given a port. */
export const POD_NETWORKS_ANNOTATION = 'k8s.ovn.org/pod-networks';
/** multus' default-network selection; OVN-Kubernetes reads `mac` (and, on primary UDNs, `ips`) from it. */
export const DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';
/** The key of the cluster default network in `k8s.ovn.org/pod-networks`. */
export const DEFAULT_NETWORK_KEY = 'default';

const route = z.object({ dest: z.string(), nextHop: z.string().optional() });

/** One network's entry in `k8s.ovn.org/pod-networks`; unknown fields (tunnel_id, ...) are kept out. */
export const podNetworkEntry = z.object({
  ip_addresses: z.array(z.string()).optional(),
  mac_address: z.string(),
  gateway_ips: z.array(z.string()).optional(),
  routes: z.array(route).optional(),
  /** `primary` | `secondary` | `infrastructure-locked` (the default network under a primary UDN). */
  role: z.string().optional(),
  /** Deprecated single-IP forms, still read by OVN-Kubernetes for old annotations. */
  ip_address: z.string().optional(),
  gateway_ip: z.string().optional(),
});
export type PodNetworkEntry = z.infer<typeof podNetworkEntry>;

export const podNetworks = z.record(z.string(), podNetworkEntry);
export type PodNetworks = z.infer<typeof podNetworks>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses the pod annotation; a missing annotation is `undefined` (OVN-Kubernetes has not acted yet). */
export function parsePodNetworks(raw: string | undefined): Parsed<PodNetworks> | undefined {
  if (raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    return { ok: false, error: `${POD_NETWORKS_ANNOTATION} is not JSON: ${(e as Error).message}` };
  }
  const r = podNetworks.safeParse(json);
  if (!r.success) return { ok: false, error: `${POD_NETWORKS_ANNOTATION}: ${z.prettifyError(r.error)}` };
  return { ok: true, value: r.data };
}

/**
 * The entry that carries the pod's primary network: the one whose role is `primary` (a primary
 * UDN, or the default network in newer OVN-Kubernetes), else the `default` key (older annotations
 * have no role at all).
 */
export function primaryEntry(nets: PodNetworks): { key: string; entry: PodNetworkEntry } | undefined {
  const byRole = Object.entries(nets).find(([, e]) => e.role === 'primary');
  if (byRole) return { key: byRole[0], entry: byRole[1] };
  const d = nets[DEFAULT_NETWORK_KEY];
  return d ? { key: DEFAULT_NETWORK_KEY, entry: d } : undefined;
}

/** The entry's addresses without prefixes (`10.0.0.5/24` → `10.0.0.5`), the deprecated field as fallback. */
export function entryIps(e: PodNetworkEntry): string[] {
  const cidrs = e.ip_addresses?.length ? e.ip_addresses : e.ip_address ? [e.ip_address] : [];
  return cidrs.map((c) => c.split('/')[0]!);
}

export const sameMac = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** One multus NetworkSelectionElement, only the fields this driver writes or checks. */
export const selectionElement = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  mac: z.string().optional(),
  ips: z.array(z.string()).optional(),
});
export type SelectionElement = z.infer<typeof selectionElement>;

/**
 * Parses `v1.multus-cni.io/default-network`: a JSON list with one element, a single JSON object,
 * or multus' short `namespace/name` (or `name`) form. OVN-Kubernetes accepts exactly one element.
 */
export function parseDefaultNetwork(raw: string, podNamespace: string): Parsed<SelectionElement> {
  const text = raw.trim();
  if (!text.startsWith('[') && !text.startsWith('{')) {
    const [a, b] = text.split('/');
    return b === undefined
      ? { ok: true, value: { name: a!, namespace: podNamespace } }
      : { ok: true, value: { name: b, namespace: a! } };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `${DEFAULT_NETWORK_ANNOTATION} is not JSON: ${(e as Error).message}` };
  }
  const list = Array.isArray(json) ? json : [json];
  if (list.length !== 1)
    return { ok: false, error: `${DEFAULT_NETWORK_ANNOTATION} selects ${list.length} networks, not one` };
  const r = selectionElement.safeParse(list[0]);
  if (!r.success) return { ok: false, error: `${DEFAULT_NETWORK_ANNOTATION}: ${z.prettifyError(r.error)}` };
  return { ok: true, value: { ...r.data, namespace: r.data.namespace ?? podNamespace } };
}

export interface DefaultNetworkRef {
  namespace: string;
  name: string;
}

/** What the VM should ask OVN-Kubernetes for. */
export interface AddressRequest {
  network: DefaultNetworkRef;
  mac: string;
  /** CIDR form (`10.0.0.5/24`); omitted where OVN-Kubernetes ignores it (the cluster default network). */
  ips?: string[];
}

export function defaultNetworkValue(req: AddressRequest): string {
  const el: SelectionElement = {
    name: req.network.name,
    namespace: req.network.namespace,
    mac: req.mac,
    ...(req.ips ? { ips: req.ips } : {}),
  };
  return JSON.stringify([el]);
}

/** True when the element asks exactly for `req` (order of IPs ignored, MACs case-insensitively). */
export function selectionMatches(el: SelectionElement, req: AddressRequest): boolean {
  const ips = [...(el.ips ?? [])].sort();
  const want = [...(req.ips ?? [])].sort();
  return (
    el.name === req.network.name &&
    el.namespace === req.network.namespace &&
    el.mac !== undefined &&
    sameMac(el.mac, req.mac) &&
    ips.length === want.length &&
    ips.every((ip, i) => ip === want[i])
  );
}

export type TemplatePlan =
  /** The template's annotations, changed keys only (null deletes), for a merge patch; {} when shaped. */
  | { ok: true; annotations: Record<string, string | null> }
  /** Someone else's default-network selection is on the template: left alone. */
  | { ok: false; reason: string; message: string };

/**
 * The template annotation changes that make the VM ask for `req` at its next start. A selection
 * naming another network than OVN-Kubernetes' default NAD belongs to someone else and is never
 * overwritten; one naming ours but asking for other addresses (an older claim) is replaced.
 */
export function planTemplate(
  current: Record<string, string> | undefined,
  req: AddressRequest,
  vmNamespace: string,
): TemplatePlan {
  const changes: Record<string, string | null> = {};
  if (current?.[KubevirtAnnotations.allowPodBridgeLiveMigration] === undefined)
    changes[KubevirtAnnotations.allowPodBridgeLiveMigration] = '';
  const raw = current?.[DEFAULT_NETWORK_ANNOTATION];
  if (raw === undefined) {
    changes[DEFAULT_NETWORK_ANNOTATION] = defaultNetworkValue(req);
    return { ok: true, annotations: changes };
  }
  const parsed = parseDefaultNetwork(raw, vmNamespace);
  if (!parsed.ok) return { ok: false, reason: 'ForeignDefaultNetwork', message: parsed.error };
  const el = parsed.value;
  if (el.name !== req.network.name || el.namespace !== req.network.namespace) {
    return {
      ok: false,
      reason: 'ForeignDefaultNetwork',
      message: `the VM template selects default network ${el.namespace}/${el.name}, not OVN-Kubernetes' ${req.network.namespace}/${req.network.name}; left alone`,
    };
  }
  if (!selectionMatches(el, req)) changes[DEFAULT_NETWORK_ANNOTATION] = defaultNetworkValue(req);
  return { ok: true, annotations: changes };
}

/** Removal: the annotation goes only if it is ours (names OVN-Kubernetes' default NAD). */
export function planRemoval(
  current: Record<string, string> | undefined,
  network: DefaultNetworkRef,
  vmNamespace: string,
): Record<string, null> {
  const raw = current?.[DEFAULT_NETWORK_ANNOTATION];
  if (raw === undefined) return {};
  const parsed = parseDefaultNetwork(raw, vmNamespace);
  if (!parsed.ok || parsed.value.name !== network.name || parsed.value.namespace !== network.namespace)
    return {};
  return { [DEFAULT_NETWORK_ANNOTATION]: null };
}
