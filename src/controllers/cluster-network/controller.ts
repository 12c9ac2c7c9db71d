// The cluster network controller: what a KubevirtCluster's `spec.network` asks of the infra cluster
// as a whole: the pool's usage (IPAMReady, status.network.ipam) and exposure (ServicesReady, infra
// Services with the VMs' stable IPs as endpoints). Isolation is not enforced yet, and IsolationReady
// says so. NetworkReady summarises the three. Cluster API's order (runtime's clusterApiReconciler),
// for clusters with `spec.network` only.
import { isDeepStrictEqual } from 'node:util';
import { NetworkConditions, NetworkReasons, summarizeClusterNetwork } from '../../api/conditions.js';
import type { ClusterNetworkSpec, ClusterNetworkStatus } from '../../api/network.js';
import {
  checkNodePorts,
  DEFAULT_NODE_PORT_RANGE,
  readClusterNetwork,
  type NodePortRange,
} from '../../api/validate.js';
import {
  KubevirtClusters,
  KubevirtMachines,
  kubevirtClusterNameOf,
  type KubevirtCluster,
  type KubevirtMachine,
} from '../../capk/resources.js';
import {
  clusterPool,
  IPAddressClaims,
  IPAddresses,
  isInClusterPool,
  poolSize,
  type IPAddress,
  type IPAddressClaim,
} from '../../ipam/index.js';
import {
  ApiError,
  applyOwned,
  CacheIndex,
  ClusterNameLabel,
  ClusterResource,
  clusterApiReconciler,
  deleteCondition,
  Controller,
  getCondition,
  getConditions,
  hasFinalizer,
  markFalse,
  markTrue,
  ownerReferenceTo,
  ownerClusterKey,
  OwnWrites,
  removeFinalizer,
  setCondition,
  type EventRecorder,
  type Informer,
  type KubeObject,
  type Manager,
  type OwnerReference,
  type ResourceRef,
  type Result,
  type Scope,
} from '../../runtime/index.js';
import {
  CAPK_SERVICE_ENTRY,
  capkControlPlaneServiceName,
  capkControlPlaneSlice,
  covers,
  desiredExposure,
  EndpointSlices,
  ExposureLabels,
  exposedMachine,
  serviceStatus,
  Services,
  type EndpointSlice,
  type ExposedMachine,
  type Service,
} from './exposure.js';

export const CLUSTER_NETWORK_FINALIZER = 'network.capk-podnet.io/cluster';

export interface ClusterNetworkControllerOptions {
  /** False while capk's CRDs lack the network schema (the CRD guard is putting it back). */
  schemaReady?: () => boolean;
  /** The infra cluster's --service-node-port-range. */
  nodePortRange?: NodePortRange;
  concurrency?: number;
}

interface Deps {
  mgr: Manager;
  events: EventRecorder;
  capiClusters: Informer;
  services: Informer<Service>;
  slices: Informer<EndpointSlice>;
  /** Services carrying a CAPI cluster-name label: capk's own API-server Service among them. */
  capkServices: Informer<Service>;
  /** By the namespace/name of the KubevirtCluster whose pool they draw on (poolOwner). */
  addressesByPool: CacheIndex<IPAddress>;
  claimsByPool: CacheIndex<IPAddressClaim>;
  /** By namespace/CAPI cluster name (the machines' cluster-name label). */
  machinesByCluster: CacheIndex<KubevirtMachine>;
  nodePortRange: NodePortRange;
  schemaReady: () => boolean;
}

const ownedServices = { resource: Services, labelSelector: ExposureLabels.cluster };
const ownedSlices = { resource: EndpointSlices, labelSelector: ExposureLabels.cluster };
const capkServices = { resource: Services, labelSelector: ClusterNameLabel };

export function addClusterNetworkController(
  mgr: Manager,
  opts: ClusterNetworkControllerOptions = {},
): Controller {
  const clusters = mgr.informer<KubevirtCluster>(KubevirtClusters);
  const machines = mgr.informer<KubevirtMachine>(KubevirtMachines);
  const own = new OwnWrites<KubevirtCluster>(clusters, mgr.client, KubevirtClusters);
  const d: Deps = {
    mgr,
    events: mgr.events('capk-podnet'),
    machinesByCluster: new CacheIndex(machines, (m) => {
      const name = m.metadata.labels?.[ClusterNameLabel];
      return name ? [`${m.metadata.namespace}/${name}`] : [];
    }),
    capiClusters: mgr.informer(ClusterResource),
    services: mgr.informer<Service>(ownedServices),
    slices: mgr.informer<EndpointSlice>(ownedSlices),
    capkServices: mgr.informer<Service>(capkServices),
    addressesByPool: new CacheIndex(mgr.informer<IPAddress>(IPAddresses), poolKeys),
    claimsByPool: new CacheIndex(mgr.informer<IPAddressClaim>(IPAddressClaims), poolKeys),
    nodePortRange: opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE,
    schemaReady: opts.schemaReady ?? (() => true),
  };
  // The KubevirtCluster a capk-labelled object (a machine, capk's Service) belongs to.
  const clusterOf = (o: KubeObject) => {
    const name = kubevirtClusterNameOf(d.capiClusters, o);
    return name ? [{ namespace: o.metadata.namespace, name }] : [];
  };
  const reconcile = clusterApiReconciler<KubevirtCluster>({
    resource: KubevirtClusters,
    cache: clusters,
    client: mgr.client,
    cluster: { resource: ClusterResource, cache: d.capiClusters },
    finalizer: CLUSTER_NETWORK_FINALIZER,
    ownWrites: own,
    ownedConditions: [
      NetworkConditions.IPAMReady,
      NetworkConditions.IsolationReady,
      NetworkConditions.ServicesReady,
      NetworkConditions.NetworkReady,
    ],
    reconcileNormal: (s) => reconcileNormal(d, s),
    reconcileDelete: (s) => reconcileDelete(d, s),
  });
  const controller = mgr.add(
    new Controller({
      name: 'cluster-network',
      for: KubevirtClusters,
      owns: [ownedServices, ownedSlices],
      concurrency: opts.concurrency ?? 2,
      predicate: own.admit,
      watches: [
        // Addresses allocated from the cluster's pool, and claims waiting for one: its usage.
        { source: IPAddresses, map: (o) => poolOwner(o as IPAddress) },
        { source: IPAddressClaims, map: (o) => poolOwner(o as IPAddressClaim) },
        {
          // capk's API-server Service appearing or changing its ports.
          source: capkServices,
          map: clusterOf,
        },
        {
          // A machine's IP, readiness, node or role is an endpoint of its cluster's Services.
          source: KubevirtMachines,
          map: clusterOf,
          // Not every status write of a machine (ten or so in its life, more per migration).
          predicate: (e) =>
            e.type !== 'update' ||
            !e.old ||
            e.old.metadata.labels?.[ClusterNameLabel] !== e.object.metadata.labels?.[ClusterNameLabel] ||
            !isDeepStrictEqual(
              exposedMachine(e.old as KubevirtMachine),
              exposedMachine(e.object as KubevirtMachine),
            ),
        },
      ],
      // A cluster without spec.network is not ours (no finalizer, no status): unless it still
      // carries our finalizer from when it had one.
      reconcile: async (req, ctx) => {
        const c = clusters.get(req);
        if (!c || (c.spec?.network === undefined && !hasFinalizer(c, CLUSTER_NETWORK_FINALIZER))) return;
        return reconcile(req, ctx);
      },
    }),
  );
  own.requeue = (k) => controller.enqueue(k);
  return controller;
}

interface Problem {
  field?: string;
  reason: string;
  message: string;
}

async function reconcileNormal(d: Deps, s: Scope<KubevirtCluster>): Promise<Result | void> {
  const c = s.object;
  try {
    return await reconcileParts(d, c);
  } finally {
    // The summary of what this pass (or, after an error, the last one) found.
    if (c.spec?.network !== undefined)
      setCondition(c, summarizeClusterNetwork(getConditions(c), c.metadata.generation ?? 0));
  }
}

async function reconcileParts(d: Deps, c: KubevirtCluster): Promise<Result | void> {
  if (!d.schemaReady()) {
    markFalse(
      c,
      NetworkConditions.IPAMReady,
      NetworkReasons.NetworkSchemaMissing,
      "capk's CRD lacks the network schema; waiting for the CRD guard",
    );
    return { requeueAfterMs: 5_000 };
  }
  const read = readClusterNetwork(c);
  if (!read.ok) {
    const message = read.problems.map((p) => p.message).join('; ');
    for (const type of PARTS) markFalse(c, type, NetworkReasons.InvalidSpec, message);
    return;
  }
  if (!read.network) {
    // The network was taken off the cluster: so is what it exposed, and the cluster is left alone.
    await deleteUnwanted(d, c, new Set());
    for (const type of [...PARTS, NetworkConditions.NetworkReady]) deleteCondition(c, type);
    if (c.status?.network !== undefined) c.status = { ...c.status, network: undefined };
    removeFinalizer(c, CLUSTER_NETWORK_FINALIZER);
    return;
  }
  const ipam = poolUsage(d, c, read.network);
  setIsolation(c, read.network);
  const wanted = read.network.services ?? [];
  const ns = c.metadata.namespace!;
  const problems: Problem[] = checkNodePorts(read.network, d.nodePortRange);
  const refused = (i: number) => problems.some((p) => p.field?.startsWith(`spec.network.services[${i}].`));
  const owner = ownerReferenceTo(c, { controller: true });
  // capk names the CAPI Cluster and its KubevirtCluster alike; the owner reference says so when not.
  const capiName = ownerClusterKey(c)?.name ?? c.metadata.name;
  const machines = d.machinesByCluster
    .get(`${ns}/${capiName}`)
    .filter((m) => kubevirtClusterNameOf(d.capiClusters, m) === c.metadata.name)
    .map(exposedMachine);

  const statuses: NonNullable<ClusterNetworkStatus['services']> = [];
  for (const [i, svc] of wanted.entries()) {
    if (refused(i)) {
      statuses.push(serviceStatus(svc.name, undefined));
      continue;
    }
    const want = desiredExposure({ namespace: ns, name: c.metadata.name, owner }, svc, machines);
    const key = { namespace: ns, name: want.service.metadata.name };
    // Another's object under the name is reported, never taken over (apply would take its fields).
    const foreign =
      (await foreignObject(d, Services, d.services, key, c)) ??
      (await foreignObject(d, EndpointSlices, d.slices, key, c));
    if (foreign) {
      problems.push({ reason: NetworkReasons.ServiceNameTaken, message: foreign });
      statuses.push(serviceStatus(svc.name, undefined));
      continue;
    }
    try {
      let current = d.services.get(key);
      if (!current || !covers(current, want.service))
        current = await applyOwned(d.mgr.client, Services, want.service);
      const slice = d.slices.get(key);
      if (!slice || !covers(slice, want.slice)) await applyOwned(d.mgr.client, EndpointSlices, want.slice);
      statuses.push(serviceStatus(svc.name, current));
    } catch (e) {
      if (!(e instanceof ApiError) || e.code < 400 || e.code >= 500 || e.code === 409) throw e;
      // Refused by the API server (a name too long, a node port taken): the spec must change.
      problems.push({ reason: NetworkReasons.ServiceRejected, message: `service ${svc.name}: ${e.message}` });
      statuses.push(serviceStatus(svc.name, undefined));
    }
  }
  const keep = new Set(wanted.map((w) => w.name));
  if (await ensureCapkControlPlaneSlice(d, c, capiName, owner, machines)) keep.add(CAPK_SERVICE_ENTRY);
  await deleteUnwanted(d, c, keep);

  const prev = (c.status?.network ?? {}) as ClusterNetworkStatus;
  c.status = {
    ...c.status,
    network: {
      ...prev,
      observedGeneration: c.metadata.generation,
      ...(ipam ? { ipam } : {}),
      services: statuses,
    },
  };
  setServicesReady(d, c, problems, wanted.length);
}

const PARTS = [
  NetworkConditions.IPAMReady,
  NetworkConditions.IsolationReady,
  NetworkConditions.ServicesReady,
];

/** The cluster whose in-cluster pool an address or claim draws on; none for another provider's pool. */
function poolOwner(o: IPAddress | IPAddressClaim): { namespace?: string; name: string }[] {
  const ref = o.spec?.poolRef;
  return ref && isInClusterPool(ref) ? [{ namespace: o.metadata.namespace, name: ref.name }] : [];
}

function poolKeys(o: IPAddress | IPAddressClaim): string[] {
  return poolOwner(o).map((k) => `${k.namespace}/${k.name}`);
}

/**
 * IPAMReady and the pool's usage, counted from the IPAddress objects (the pool keeps no count of
 * its own). An external pool (`ipam.poolRef`) reports its own usage.
 */
function poolUsage(d: Deps, c: KubevirtCluster, network: ClusterNetworkSpec): ClusterNetworkStatus['ipam'] {
  const pool = clusterPool(network);
  if (!pool) {
    const ref = network.ipam.poolRef!;
    markTrue(
      c,
      NetworkConditions.IPAMReady,
      NetworkReasons.Ready,
      `addresses come from ${ref.kind} ${ref.name}`,
    );
    return undefined;
  }
  const size = poolSize(pool);
  // The index holds only objects whose poolRef is this cluster's in-cluster pool (poolKeys).
  const key = `${c.metadata.namespace}/${c.metadata.name}`;
  const addresses = d.addressesByPool.get(key);
  const allocated = addresses.length;
  // A claim whose address exists but is not bound yet (the provider's next write) is not waiting.
  const held = new Set(addresses.map((a) => a.spec.claimRef.name));
  const waiting = d.claimsByPool
    .get(key)
    .filter((cl) => !cl.status?.addressRef?.name && !held.has(cl.metadata.name)).length;
  const free = Math.max(0, size - allocated);
  if (free === 0 && waiting > 0)
    markFalse(
      c,
      NetworkConditions.IPAMReady,
      NetworkReasons.PoolExhausted,
      `all ${size} addresses of ${network.ipam.cidrs!.join(', ')} are allocated; ${waiting} claim(s) wait for one`,
    );
  else
    markTrue(
      c,
      NetworkConditions.IPAMReady,
      NetworkReasons.Ready,
      `${allocated} of ${size} addresses allocated`,
    );
  return { size, allocated, free };
}

/** Not enforced yet: Strict says so rather than let NetworkReady claim an isolation that is not there. */
function setIsolation(c: KubevirtCluster, network: ClusterNetworkSpec): void {
  if (network.isolation.mode === 'Disabled')
    markTrue(c, NetworkConditions.IsolationReady, NetworkReasons.Ready, 'isolation.mode is Disabled');
  else
    markFalse(
      c,
      NetworkConditions.IsolationReady,
      NetworkReasons.IsolationNotEnforced,
      'isolation.mode Strict is not enforced by this version of capk-podnet: no isolation rules are programmed',
    );
}

/**
 * The endpoints of capk's own API-server Service (the tenant's controlPlaneEndpoint), when capk made
 * one for this cluster: true when that slice is wanted.
 */
async function ensureCapkControlPlaneSlice(
  d: Deps,
  c: KubevirtCluster,
  capiName: string,
  owner: OwnerReference,
  machines: ExposedMachine[],
): Promise<boolean> {
  const ns = c.metadata.namespace!;
  const svc = d.capkServices.get({ namespace: ns, name: capkControlPlaneServiceName(capiName) });
  // capk's selects launcher pods; a selector-less Service of the name is someone's own endpoints.
  if (!svc?.spec?.selector) return false;
  const slice = capkControlPlaneSlice({ namespace: ns, name: c.metadata.name, owner }, svc, machines);
  const key = { namespace: ns, name: slice.metadata.name };
  if (await foreignObject(d, EndpointSlices, d.slices, key, c)) return false;
  const current = d.slices.get(key);
  if (!current || !covers(current, slice)) await applyOwned(d.mgr.client, EndpointSlices, slice);
  return true;
}

/** Condition and, when it turns, an Event: a problem that persists is not repeated every pass. */
function setServicesReady(d: Deps, c: KubevirtCluster, problems: Problem[], count: number): void {
  const before = getCondition(c, NetworkConditions.ServicesReady);
  if (problems.length === 0) {
    markTrue(c, NetworkConditions.ServicesReady, NetworkReasons.Ready, `${count} service(s) exposed`);
    return;
  }
  const reason = problems[0]!.reason;
  const message = problems.map((p) => p.message).join('; ');
  markFalse(c, NetworkConditions.ServicesReady, reason, message);
  if (before?.status !== 'False' || before.reason !== reason || before.message !== message)
    void d.events.event(c, 'Warning', reason, message);
}

/** A message when `key` is held by an object this cluster does not own; the cache first, then the server. */
async function foreignObject<T extends KubeObject>(
  d: Deps,
  ref: ResourceRef,
  cache: Informer<T>,
  key: { namespace: string; name: string },
  c: KubevirtCluster,
): Promise<string | undefined> {
  const o: KubeObject | undefined =
    cache.get(key) ?? (await d.mgr.client.tryGet(ref, key.name, key.namespace));
  if (!o || ownedBy(o, c)) return undefined;
  return `${ref.kind} ${key.name} exists and is not this cluster's`;
}

function ownedBy(o: KubeObject, c: KubevirtCluster): boolean {
  return (o.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === c.metadata.uid);
}

/** Removes this cluster's Services and EndpointSlices that no `services` entry asks for (all, with `keep` empty). */
async function deleteUnwanted(d: Deps, c: KubevirtCluster, keep: Set<string>): Promise<void> {
  const ns = c.metadata.namespace!;
  const labels = { [ExposureLabels.cluster]: c.metadata.name };
  const unwanted = (o: KubeObject) =>
    ownedBy(o, c) && !keep.has(o.metadata.labels?.[ExposureLabels.service] ?? '');
  for (const o of d.slices.list({ namespace: ns, labels }).filter(unwanted))
    await d.mgr.client.delete(EndpointSlices, o.metadata.name, ns, { uid: o.metadata.uid });
  for (const o of d.services.list({ namespace: ns, labels }).filter(unwanted))
    await d.mgr.client.delete(Services, o.metadata.name, ns, { uid: o.metadata.uid });
}

async function reconcileDelete(d: Deps, s: Scope<KubevirtCluster>): Promise<Result | void> {
  // The garbage collector would remove them too (owner references); the finalizer makes it certain
  // and immediate, also where no garbage collector runs.
  await deleteUnwanted(d, s.object, new Set());
}
