// The machine network controller: one KubevirtMachine's stable network, from IP claim to routes.
// Cluster API's order (runtime's clusterApiReconciler): get → externally managed → owner Cluster →
// paused → finalizer → reconcileNormal | reconcileDelete → patch status with only our conditions.
// reconcileNormal is a flat list of steps; each sets its own condition and may stop the list.
import { Gauge } from 'prom-client';
import { clusterNetworkSpec, machineNetworkSpec, type ClusterNetworkSpec } from '../../api/network.js';
import { backupPatch } from '../../api/backup.js';
import { NetworkConditions, NetworkReasons } from '../../api/conditions.js';
import {
  IPAddressClaims,
  IPAddresses,
  KubevirtClusters,
  REQUESTED_ADDRESS_ANNOTATION,
  type IPAddress,
  type IPAddressClaim,
} from '../../ipam/index.js';
import {
  hasRunningLauncher,
  launcherPodsOf,
  placementOf,
  type PlacementFacts,
} from '../../kubevirt/placement.js';
import {
  KubevirtAnnotations,
  KubevirtLabels,
  VirtualMachineInstances,
  type Pod,
  type VirtualMachineInstance,
} from '../../kubevirt/resources.js';
import type { NetworkDriver, VmNetworkSpec } from '../../network/driver.js';
import {
  applyOwned,
  CacheIndex,
  ClusterNameLabel,
  ClusterResource,
  clusterApiReconciler,
  Controller,
  generationChanged,
  getCondition,
  hasFinalizer,
  isDeleting,
  isExternallyManaged,
  isPaused,
  markFalse,
  markTrue,
  ownerClusterKey,
  ownerReferenceTo,
  OwnWrites,
  Pods,
  type EventRecorder,
  type Informer,
  type InformerEvent,
  type KubeObject,
  type Manager,
  type ObjectKey,
  type Result,
  type Scope,
} from '../../runtime/index.js';
import {
  claimLeftByEarlierMachine,
  desiredVmNetwork,
  macForIPv4,
  nextNetworkStatus,
  type InfraDefaults,
} from './desired.js';
import {
  KubevirtMachines,
  kubevirtClusterNameOf,
  type KubevirtCluster,
  type KubevirtMachine,
} from '../../capk/resources.js';

export const MACHINE_NETWORK_FINALIZER = 'network.capk-podnet.io/machine';

export interface MachineNetworkControllerOptions {
  driver: NetworkDriver;
  /** False while capk's CRDs lack the network schema (the CRD guard is putting it back). */
  schemaReady?: () => boolean;
  defaults: InfraDefaults;
  concurrency?: number;
}

interface Deps {
  mgr: Manager;
  driver: NetworkDriver;
  defaults: InfraDefaults;
  events: EventRecorder;
  kubevirtClusters: Informer<KubevirtCluster>;
  claims: Informer<IPAddressClaim>;
  addresses: Informer<IPAddress>;
  vmis: Informer<VirtualMachineInstance>;
  pods: Informer<Pod>;
  /** Launcher pods by namespace/VMI name (what launcherPodsOf matches). */
  podsByVmi: CacheIndex<Pod>;
  machines: Informer<KubevirtMachine>;
  /** Cluster API's Clusters: owner, paused, and the KubevirtCluster a machine belongs to. */
  capiClusters: Informer;
  /** When each migration's target was first seen ready (ms), by migration id. */
  readySeen: Map<string, number>;
  /** When the routes of a migration were committed by a cutover outside the queue (ms), by id. */
  flippedAt: Map<string, number>;
  schemaReady: () => boolean;
}

const launcherPods = { resource: Pods, labelSelector: `${KubevirtLabels.app}=${KubevirtLabels.appLauncher}` };

export function addMachineNetworkController(mgr: Manager, opts: MachineNetworkControllerOptions): Controller {
  const machines = mgr.informer<KubevirtMachine>(KubevirtMachines);
  const own = new OwnWrites<KubevirtMachine>(machines, mgr.client, KubevirtMachines);
  const deps: Deps = {
    mgr,
    driver: opts.driver,
    defaults: opts.defaults,
    events: mgr.events('capk-podnet'),
    kubevirtClusters: mgr.informer<KubevirtCluster>(KubevirtClusters),
    claims: mgr.informer<IPAddressClaim>(IPAddressClaims),
    addresses: mgr.informer<IPAddress>(IPAddresses),
    vmis: mgr.informer<VirtualMachineInstance>(VirtualMachineInstances),
    pods: mgr.informer<Pod>(launcherPods),
    podsByVmi: new CacheIndex(mgr.informer<Pod>(launcherPods), (p) => {
      const vmi =
        p.metadata.annotations?.[KubevirtAnnotations.domain] ?? p.metadata.labels?.[KubevirtLabels.vmName];
      return vmi ? [`${p.metadata.namespace}/${vmi}`] : [];
    }),
    machines,
    capiClusters: mgr.informer(ClusterResource),
    readySeen: new Map(),
    flippedAt: new Map(),
    schemaReady: opts.schemaReady ?? (() => true),
  };
  // capk names the VM, and so the VMI, after the KubevirtMachine, in the machine's namespace.
  const sameName = (o: KubeObject): ObjectKey[] => [
    { namespace: o.metadata.namespace, name: o.metadata.name },
  ];
  const machinesOfCluster = (o: KubeObject): ObjectKey[] =>
    machines
      .list({ namespace: o.metadata.namespace })
      .filter((m) => kubevirtClusterNameOf(deps.capiClusters, m) === o.metadata.name)
      .map((m) => ({ namespace: m.metadata.namespace, name: m.metadata.name }));

  exposeDriverStats(mgr, opts.driver);
  const controller = mgr.add(
    new Controller({
      name: 'machine-network',
      for: KubevirtMachines,
      owns: [IPAddressClaims],
      concurrency: opts.concurrency ?? 4,
      // A VM in the middle of a migration jumps the queue: its cutover waits on this reconcile. So
      // does a VM just placed on a node: it boots and asks for DHCP while other machines' claims
      // and finalizers can wait. And a machine whose claim was just bound: capk creates its VM once
      // IPAMReady says so, and a thousand first passes of other machines need not go first.
      priority: (e) => isMigrationEvent(e.object) || justScheduled(e) || justBound(e),
      // The echo of this controller's own write brings nothing its reconcile did not already see.
      predicate: own.admit,
      // Where a VM runs comes from its VMI and launcher pods alone (placementOf): the VMI mirrors
      // a VirtualMachineInstanceMigration's state, so migrations are not watched (~9 more events
      // per migration, each a reconcile competing with the cutover for the machine's driver calls).
      watches: [
        {
          source: VirtualMachineInstances,
          map: (o) => {
            if (noteTargetReady(deps, o as VirtualMachineInstance)) void cutOverNow(deps, o);
            return sameName(o);
          },
        },
        {
          source: launcherPods,
          map: (o) => {
            const vmi = o.metadata.annotations?.['kubevirt.io/domain'];
            return vmi ? [{ namespace: o.metadata.namespace, name: vmi }] : [];
          },
        },
        {
          source: IPAddresses,
          map: (o) => [{ namespace: o.metadata.namespace, name: (o as IPAddress).spec.claimRef.name }],
        },
        // Only the cluster's spec (its network) concerns a machine, not the cluster's own status.
        { source: KubevirtClusters, map: machinesOfCluster, predicate: generationChanged },
      ],
      reconcile: clusterApiReconciler<KubevirtMachine>({
        resource: KubevirtMachines,
        cache: machines,
        client: mgr.client,
        cluster: { resource: ClusterResource, cache: deps.capiClusters },
        finalizer: MACHINE_NETWORK_FINALIZER,
        ownWrites: own,
        ownedConditions: [NetworkConditions.IPAMReady, NetworkConditions.NetworkReady],
        reconcileNormal: (s) => reconcileNormal(deps, s),
        reconcileDelete: (s) => reconcileDelete(deps, s),
      }),
    }),
  );
  own.requeue = (k) => controller.enqueue(k);
  return controller;
}

async function reconcileNormal(d: Deps, s: Scope<KubevirtMachine>): Promise<Result | void> {
  const m = s.object;
  // Acting now would write through a CRD that prunes spec.network and status.network.
  if (!d.schemaReady()) {
    notReady(
      m,
      NetworkConditions.NetworkReady,
      NetworkReasons.NetworkSchemaMissing,
      "capk's CRD lacks the network schema; waiting for the CRD guard",
    );
    return { requeueAfterMs: 5_000 };
  }
  const clusterName = kubevirtClusterNameOf(d.capiClusters, m);
  const kvCluster = clusterName
    ? d.kubevirtClusters.get({ namespace: m.metadata.namespace, name: clusterName })
    : undefined;
  if (!kvCluster)
    return notReady(
      m,
      NetworkConditions.IPAMReady,
      NetworkReasons.Pending,
      'waiting for the KubevirtCluster',
    );
  const network = clusterNetworkSpec.safeParse(kvCluster.spec?.network);
  if (!network.success)
    return notReady(
      m,
      NetworkConditions.IPAMReady,
      NetworkReasons.InvalidSpec,
      `KubevirtCluster ${clusterName}: ${network.error.message}`,
    );
  const machineNet = machineNetworkSpec.safeParse(m.spec?.network ?? {});
  if (!machineNet.success)
    return notReady(m, NetworkConditions.IPAMReady, NetworkReasons.InvalidSpec, machineNet.error.message);

  // Step: an IP address through the Cluster API IPAM contract.
  const address = await ensureAddress(d, m, clusterName!, network.data, machineNet.data.ipv4);
  // Claimed just now: the provider answers within moments, and the claim's next event brings this
  // machine back. A "waiting" condition for that moment would be one more status write (and one
  // more round trip in the first pass of each of a thousand new machines); it is written only if
  // the wait lasts.
  if (address === 'claimed') return { requeueAfterMs: CLAIM_GRACE_MS };
  if (!address) {
    const c = getCondition(m, NetworkConditions.IPAMReady)!;
    return notReady(m, NetworkConditions.IPAMReady, c.reason ?? NetworkReasons.Pending, c.message ?? '');
  }

  // Step: the driver converges the infra network on where the VM runs now.
  const { spec, facts } = buildSpec(d, m, kvCluster, network.data, machineNet.data.mac, address);
  const observed = await d.driver.ensureVm(spec);
  const flipped = facts.migration ? d.flippedAt.get(facts.migration.id) : undefined;
  // The flip's own commit when an earlier call made it, else this call's (not the end of its re-check).
  const cutoverAt = flipped ?? observed.committedAtMs;
  if (facts.migration?.completed) d.flippedAt.delete(facts.migration.id);
  const { status, events } = nextNetworkStatus({
    prev: m.status?.network,
    spec,
    facts,
    observed,
    observedGeneration: m.metadata.generation,
    committedAtMs: Date.now(),
    ...(cutoverAt !== undefined ? { cutoverCommittedAtMs: cutoverAt } : {}),
  });
  m.status = { ...m.status, network: status };
  // A copy of the network spec and the assigned IP/MAC, so that a capk CRD re-applied without our
  // schema (clusterctl upgrade) loses nothing the CRD guard cannot put back (ADR 0011).
  const backup = backupPatch(m);
  if (backup) {
    const annotations = { ...m.metadata.annotations };
    for (const [k, v] of Object.entries(backup.metadata.annotations)) {
      if (v === null) delete annotations[k];
      else annotations[k] = v;
    }
    m.metadata.annotations = annotations;
  }
  // Events are best effort (EventRecorder never throws): not awaited, so a migration's next step
  // never waits behind them.
  for (const e of events) void d.events.event(m, e.type, e.reason, e.message);

  if (observed.programmed)
    markTrue(
      m,
      NetworkConditions.NetworkReady,
      status.phase === 'Migrating' ? NetworkReasons.Migrating : NetworkReasons.Ready,
      `${address.ipv4} served on ${observed.routedTo}`,
    );
  else
    markFalse(
      m,
      NetworkConditions.NetworkReady,
      observed.reason ?? NetworkReasons.Pending,
      observed.message ?? waitingMessage(spec.placement.kind),
    );
}

/**
 * The driver's own counters (both drivers keep `stats`: NB transactions, VM patches, conflicts...)
 * on /metrics, read at scrape time: what a write costs downstream is visible in production too.
 */
function exposeDriverStats(mgr: Manager, driver: NetworkDriver): void {
  const stats = (driver as { stats?: Record<string, unknown> }).stats;
  const name = 'capk_podnet_network_driver_operations';
  if (!stats || mgr.metrics.registry.getSingleMetric(name)) return;
  new Gauge({
    name,
    help: "The network driver's counters since start (e.g. ovn: transactions, conflictRetries).",
    labelNames: ['driver', 'counter'],
    registers: [mgr.metrics.registry],
    collect() {
      for (const [counter, v] of Object.entries(stats))
        if (typeof v === 'number') this.set({ driver: driver.name, counter }, v);
    },
  });
}

/** The driver's desired state for a machine whose address is bound, from the caches only. */
function buildSpec(
  d: Deps,
  m: KubevirtMachine,
  kvCluster: KubevirtCluster,
  network: ClusterNetworkSpec,
  pinnedMac: string | undefined,
  address: { ipv4: string; prefix: number },
): { spec: VmNetworkSpec; facts: PlacementFacts } {
  const ref = { namespace: m.metadata.namespace!, name: m.metadata.name };
  const vmi = d.vmis.get(ref);
  const facts = withReadyTime(d, placementOf(vmi, podsOf(d, ref)));
  const spec = desiredVmNetwork({
    cluster: { namespace: kvCluster.metadata.namespace!, name: kvCluster.metadata.name },
    machine: ref,
    network,
    address,
    mac: pinnedMac ?? macForIPv4(address.ipv4),
    facts,
    defaults: d.defaults,
  });
  return { spec, facts };
}

/**
 * The cutover does not wait for a worker, nor for this machine's previous reconcile to finish its
 * status write (under load one API round trip is tens of milliseconds or more): when the watch
 * delivers a target that became ready, the routes flip here, from the caches, at once. It is safe
 * beside a reconcile of the same machine: the driver runs one machine's calls in call order, and
 * each call hands the whole desired state as of that call, so a later call never carries an older
 * placement. Only what reconcileNormal would do, and only when it would do it (leader, schema,
 * not paused, not deleting, address bound); the reconcile queued by the same event records the
 * cutover, timed to this commit, and does the rest. A failure here is left to that reconcile.
 */
async function cutOverNow(d: Deps, o: KubeObject): Promise<void> {
  try {
    const ref = { namespace: o.metadata.namespace!, name: o.metadata.name };
    const m = d.machines.get(ref);
    if (!m || !d.mgr.isLeader() || !d.schemaReady() || !hasFinalizer(m, MACHINE_NETWORK_FINALIZER)) return;
    if (isDeleting(m) || isExternallyManaged(m)) return;
    const clusterName = kubevirtClusterNameOf(d.capiClusters, m);
    const capiKey = ownerClusterKey(m);
    const capiCluster = capiKey ? d.capiClusters.get(capiKey) : undefined;
    if (isPaused(capiCluster, m) || !clusterName) return;
    const kvCluster = d.kubevirtClusters.get({ namespace: ref.namespace, name: clusterName });
    const network = clusterNetworkSpec.safeParse(kvCluster?.spec?.network);
    const machineNet = machineNetworkSpec.safeParse(m.spec?.network ?? {});
    if (!kvCluster || !network.success || !machineNet.success) return;
    const addrName = d.claims.get(ref)?.status?.addressRef?.name;
    const addr = addrName ? d.addresses.get({ namespace: ref.namespace, name: addrName }) : undefined;
    if (!addr || (machineNet.data.ipv4 && addr.spec.address !== machineNet.data.ipv4)) return;
    const address = { ipv4: addr.spec.address, prefix: addr.spec.prefix };
    const { spec, facts } = buildSpec(d, m, kvCluster, network.data, machineNet.data.mac, address);
    const p = spec.placement;
    if (p.kind !== 'migrating' || p.phase !== 'target-ready' || !facts.migration) return;
    const observed = await d.driver.ensureVm(spec);
    if (observed.routedTo === p.target && !d.flippedAt.has(facts.migration.id))
      d.flippedAt.set(facts.migration.id, observed.committedAtMs ?? Date.now());
  } catch {
    // the queued reconcile retries and reports
  }
}

function justScheduled(e: InformerEvent): boolean {
  if (e.object.kind !== VirtualMachineInstances.kind || e.type === 'delete') return false;
  const now = (e.object as VirtualMachineInstance).status?.nodeName;
  const before = (e.old as VirtualMachineInstance | undefined)?.status?.nodeName;
  return now !== undefined && before === undefined;
}

function justBound(e: InformerEvent): boolean {
  if (e.object.kind !== IPAddressClaims.kind || e.type === 'delete') return false;
  const now = (e.object as IPAddressClaim).status?.addressRef?.name;
  return now !== undefined && (e.old as IPAddressClaim | undefined)?.status?.addressRef?.name === undefined;
}

function isMigrationEvent(o: KubeObject): boolean {
  const ms = (o as VirtualMachineInstance).status?.migrationState;
  return (
    (ms !== undefined && !ms.completed) || o.metadata.labels?.[KubevirtLabels.migrationJobUid] !== undefined
  );
}

/**
 * The moment the watch delivered a ready target, so a cutover figure includes any wait after it.
 * True the first time for a migration.
 */
function noteTargetReady(d: Deps, vmi: VirtualMachineInstance): boolean {
  const ms = vmi.status?.migrationState;
  if (
    !ms?.migrationUid ||
    !ms.targetNodeDomainReadyTimestamp ||
    ms.completed ||
    d.readySeen.has(ms.migrationUid)
  )
    return false;
  d.readySeen.set(ms.migrationUid, Date.now());
  return true;
}

/**
 * Times a cutover from when this process first saw the target ready, unless KubeVirt recorded that
 * moment finer than a second (it usually does not). Forgotten once the migration has ended.
 */
function withReadyTime(d: Deps, facts: PlacementFacts): PlacementFacts {
  const m = facts.migration;
  if (!m) return facts;
  const p = facts.placement;
  const ready = p.kind === 'migrating' ? p.phase === 'target-ready' : m.completed && !m.failed;
  let seen = d.readySeen.get(m.id);
  if (ready && seen === undefined) d.readySeen.set(m.id, (seen = Date.now()));
  if (m.completed) d.readySeen.delete(m.id);
  return facts.targetReadyAtMs === undefined && seen !== undefined
    ? { ...facts, targetReadyAtMs: seen }
    : facts;
}

/** Marks a failed step's condition and NetworkReady with the same reason; ends reconcileNormal. */
function notReady(m: KubevirtMachine, type: string, reason: string, message: string): void {
  markFalse(m, type, reason, message);
  markFalse(m, NetworkConditions.NetworkReady, reason, message);
}

function waitingMessage(kind: string): string {
  return kind === 'unscheduled' ? 'waiting for the VM to be scheduled' : 'waiting for the network driver';
}

/** How long a new claim may stay unbound before the machine says it is waiting (ms). */
const CLAIM_GRACE_MS = 5_000;

/**
 * The machine's bound address; 'claimed' when its claim was created by this call; undefined (with
 * IPAMReady False) while pending.
 */
async function ensureAddress(
  d: Deps,
  m: KubevirtMachine,
  kvClusterName: string,
  network: ClusterNetworkSpec,
  pinned: string | undefined,
): Promise<{ ipv4: string; prefix: number } | 'claimed' | undefined> {
  const ns = m.metadata.namespace!;
  let claim = d.claims.get({ namespace: ns, name: m.metadata.name });
  if (claim && claimLeftByEarlierMachine(claim, m)) {
    // A machine of the same name, deleted a moment ago: its claim (and address) are on their way
    // out. Taking its address now would lose it under the new VM once the release completes.
    markFalse(
      m,
      NetworkConditions.IPAMReady,
      NetworkReasons.Pending,
      `waiting for IPAddressClaim ${claim.metadata.name} of an earlier machine of this name to be released`,
    );
    return undefined;
  }
  if (!claim) {
    const poolRef = network.ipam.poolRef ?? {
      apiGroup: KubevirtClusters.group,
      kind: KubevirtClusters.kind,
      name: kvClusterName,
    };
    claim = await applyOwned<IPAddressClaim>(d.mgr.client, IPAddressClaims, {
      metadata: {
        name: m.metadata.name,
        namespace: ns,
        ownerReferences: [ownerReferenceTo(m, { controller: true })],
        ...(pinned ? { annotations: { [REQUESTED_ADDRESS_ANNOTATION]: pinned } } : {}),
        ...(m.metadata.labels?.[ClusterNameLabel]
          ? { labels: { [ClusterNameLabel]: m.metadata.labels[ClusterNameLabel] } }
          : {}),
      },
      spec: {
        ...(m.metadata.labels?.[ClusterNameLabel]
          ? { clusterName: m.metadata.labels[ClusterNameLabel] }
          : {}),
        poolRef,
      },
    });
    if (!claim.status?.addressRef?.name) return 'claimed';
  }
  const addrName = claim.status?.addressRef?.name;
  const addr = addrName ? d.addresses.get({ namespace: ns, name: addrName }) : undefined;
  if (!addr) {
    const ready = getCondition(claim, 'Ready');
    markFalse(
      m,
      NetworkConditions.IPAMReady,
      ready?.status === 'False' && ready.reason ? ready.reason : NetworkReasons.Pending,
      ready?.message || `waiting for IPAddressClaim ${claim.metadata.name} to be bound`,
    );
    return undefined;
  }
  if (pinned && addr.spec.address !== pinned) {
    markFalse(
      m,
      NetworkConditions.IPAMReady,
      NetworkReasons.InvalidSpec,
      `the pool gave ${addr.spec.address}, not the pinned ${pinned}`,
    );
    return undefined;
  }
  markTrue(m, NetworkConditions.IPAMReady, NetworkReasons.Ready, `${addr.spec.address}/${addr.spec.prefix}`);
  return { ipv4: addr.spec.address, prefix: addr.spec.prefix };
}

async function reconcileDelete(d: Deps, s: Scope<KubevirtMachine>): Promise<Result | void> {
  const m = s.object;
  const ref = { namespace: m.metadata.namespace!, name: m.metadata.name };
  // Never pull the network from under a VM that may still run.
  const vmi = d.vmis.get(ref);
  const pods = podsOf(d, ref);
  if (vmi || hasRunningLauncher(pods)) {
    markFalse(
      m,
      NetworkConditions.NetworkReady,
      'Deleting',
      'waiting for the VM to stop before removing its network',
    );
    return { requeueAfterMs: 5_000 };
  }
  await d.driver.removeVm(ref);
  // This machine's claim, by uid when the cache has it; one an earlier machine of the name left, or
  // one already being deleted, is on its way out by itself.
  const claim = d.claims.get(ref);
  if (!claim || !claimLeftByEarlierMachine(claim, m))
    await d.mgr.client.delete(IPAddressClaims, ref.name, ref.namespace, { uid: claim?.metadata.uid });
  s.ctx.log.info('network removed; address released with the claim');
}

/** The VMI's launcher pods, from the index. */
function podsOf(d: Deps, ref: { namespace: string; name: string }): Pod[] {
  return launcherPodsOf(ref.name, d.podsByVmi.get(`${ref.namespace}/${ref.name}`));
}
