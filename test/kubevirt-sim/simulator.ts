// KubevirtSimulator: plays virt-controller, virt-handler, virt-api's webhooks (their effects), the
// scheduler, the kubelet and the garbage collector for KubeVirt objects, against a real API server.
// Watches feed a keyed queue; each handler reads the caches, decides with model.ts, and writes.
// Migrations run as one sequential flow per VirtualMachineInstanceMigration, in KubeVirt's order.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type * as k8s from '@kubernetes/client-node';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { Informer, KubeClient, keyOf, type Plural } from './kube.js';
import {
  Finalizers,
  KUBEVIRT_API_VERSION,
  Keys,
  evacuationMigration,
  evictionVerdict,
  finishedPodStatus,
  goTimeString,
  interfaceStatuses,
  isControlledBy,
  isMigrationTargetPod,
  isPodFinal,
  isPodReady,
  isTrue,
  launcherPod,
  liveMigratableCondition,
  metaTime,
  migratesOnEviction,
  pickNode,
  printableStatus,
  runStrategyOf,
  runningPodStatus,
  unschedulablePodStatus,
  vmiForVm,
  type GuestNetworkInfo,
} from './model.js';
import { KeyedQueue } from './queue.js';
import type {
  Condition,
  EvictionStrategy,
  Interface,
  MigrationPhase,
  MigrationState,
  PhaseTransition,
  VirtualMachine,
  VirtualMachineInstance,
  VirtualMachineInstanceMigration,
  VmiPhase,
} from './types.js';

type Awaitable<T> = T | Promise<T>;

export interface SimulatorTiming {
  /** Pause before each controller step (a phase change, a status write). */
  stepMs: number;
  /** Scheduler + kubelet: a launcher pod's time from created to bound, and from bound to Running. */
  podStartMs: number;
  /** A migration's memory copy: from Running (domain detected on the target) to the target domain ready. */
  migrationMs: number;
  /** A target pod still not ready after this fails its migration (KubeVirt: 5 min unschedulable, 15 min pending). */
  targetPendingTimeoutMs: number;
  /** First wait before the evacuation controller retries a failed evacuation migration; doubles each time. */
  evacuationBackoffMs: number;
}

export const defaultTiming: SimulatorTiming = {
  stepMs: 3,
  podStartMs: 3,
  migrationMs: 20,
  targetPendingTimeoutMs: 1_000,
  evacuationBackoffMs: 500,
};

export interface MigrationContext {
  migration: VirtualMachineInstanceMigration;
  vmi: VirtualMachineInstance;
  sourcePod: V1Pod;
  sourceNode: string;
  targetPod: V1Pod;
}

export interface SimulatorHooks {
  /** Awaited right after the target pod is created (before the scheduler places it). */
  onTargetPodCreated?(ctx: MigrationContext): Awaitable<void>;
  /**
   * A gate in PreparingTarget: the migration does not reach TargetReady before this resolves
   * (e.g. until a datapath harness has plugged the target NIC). The target pod is Running here.
   */
  awaitTargetReady?(ctx: MigrationContext & { targetNode: string }): Promise<void>;
  /**
   * Awaited at the switch-over: the guest has stopped on the source and resumes on the target (a
   * datapath harness moves the guest's NIC here). KubeVirt records the target domain ready right after.
   */
  onTargetDomainReady?(ctx: MigrationContext & { targetNode: string }): Awaitable<void>;
  /** Told after each VMIM phase is written. */
  onMigrationPhase?(phase: MigrationPhase, migration: VirtualMachineInstanceMigration): void;
}

/**
 * The pod network is not KubeVirt's job: this answers for it. Both are optional; without them
 * pods have no IP and the guest reports none.
 */
export interface PodNetwork {
  /** `status.podIPs` the kubelet reports for a launcher pod bound to `node`. */
  podIPs?(pod: V1Pod, node: string): Awaitable<string[] | undefined>;
  /** What the guest reports on one VMI interface while running in `pod`. */
  guest?(ctx: {
    vmi: VirtualMachineInstance;
    pod: V1Pod;
    iface: Interface;
  }): Awaitable<GuestNetworkInfo | undefined>;
  /** The CNI DEL: awaited when the kubelet stops a pod (Completed after a migration, or deleted). */
  teardown?(pod: V1Pod): Awaitable<void>;
}

export interface SimulatorOptions {
  /** Act only on objects in this namespace (default: all namespaces). */
  namespace?: string;
  /** Node count or names (default 3). */
  nodes?: number | string[];
  /** Prefix for generated node names (default `kvsim-<random>`). */
  nodePrefix?: string;
  /** Leave the nodes in place on stop() (default: delete them). */
  keepNodes?: boolean;
  timing?: Partial<SimulatorTiming>;
  network?: PodNetwork;
  /** KubeVirt CR `spec.configuration.evictionStrategy`. */
  clusterEvictionStrategy?: EvictionStrategy;
  /** Network binding plugins configured with migration support. */
  migratableBindings?: string[];
  hooks?: SimulatorHooks;
  log?: (line: string) => void;
}

export interface MigrationFault {
  /** The migration fails once it has reached this phase. */
  atPhase: 'Pending' | 'Scheduling' | 'Scheduled' | 'PreparingTarget' | 'TargetReady' | 'Running';
  reason?: string;
}

export interface DrainResult {
  /** VMIs marked for evacuation (`status.evacuationNodeName`), as namespace/name. */
  marked: string[];
  /** Pods the eviction let go (deleted), as namespace/name. */
  evicted: string[];
  /** Evictions refused with 429, and why. */
  denied: { pod: string; reason: string }[];
}

const OWNER_LABEL = 'kubevirt-sim.capk-podnet.io/owner';

class Stopped extends Error {
  constructor() {
    super('simulator stopped');
  }
}

class MigrationFailed extends Error {}

export class KubevirtSimulator {
  private client!: KubeClient;
  private opts!: SimulatorOptions;
  private timing: SimulatorTiming = defaultTiming;
  private nodeNames: string[] = [];
  private nodes!: Informer<V1Node>;
  private pods!: Informer<V1Pod>;
  private vms!: Informer<VirtualMachine>;
  private vmis!: Informer<VirtualMachineInstance>;
  private vmims!: Informer<VirtualMachineInstanceMigration>;
  private queue!: KeyedQueue;
  private readonly stop$ = new AbortController();
  /** Every migration this process has run (a stale cache read must not restart or fail one). */
  private readonly migrationsSeen = new Set<string>();
  /** Migration flows by VMIM UID. */
  private readonly migrationFlows = new Map<string, Promise<void>>();
  /** The migration each VMI is in, by VMI key: a VMIM UID, or '' while an evacuation creates one. */
  private readonly activeByVmi = new Map<string, string>();
  private readonly faults = new Map<string, MigrationFault>();
  private readonly heldTargets = new Set<string>();
  /** Migrations whose target pod never starts, by VMI key (one-shot). */
  private readonly holdNextTarget = new Set<string>();
  private readonly evacuationBackoff = new Map<string, { until: number; delay: number }>();
  private readonly waiters = new Set<() => void>();
  /** VMIs (by UID) whose launcher pod was created but not yet seen by the pod watch (KubeVirt's expectations). */
  private readonly expectedLaunchers = new Set<string>();
  private started = false;

  /** Names of the simulated infra nodes. */
  get nodeNamesList(): readonly string[] {
    return this.nodeNames;
  }

  async start(kc: k8s.KubeConfig, opts: SimulatorOptions = {}): Promise<void> {
    if (this.started) throw new Error('KubevirtSimulator already started');
    this.started = true;
    // Every pending sleep listens on the stop signal (and stops listening when it ends): a thousand
    // VMs starting at once is not a leak, though Node warns past 10.
    setMaxListeners(0, this.stop$.signal);
    this.opts = opts;
    this.timing = { ...defaultTiming, ...opts.timing };
    this.client = new KubeClient(kc);
    const prefix = opts.nodePrefix ?? `kvsim-${randomBytes(3).toString('hex')}`;
    this.nodeNames = Array.isArray(opts.nodes)
      ? [...opts.nodes]
      : Array.from({ length: opts.nodes ?? 3 }, (_, i) => `${prefix}-${i}`);
    const owner = prefix;
    await this.createNodes(owner);

    const ns = opts.namespace;
    this.nodes = new Informer(kc, {
      apiVersion: 'v1',
      kind: 'Node',
      plural: 'nodes',
      labelSelector: `${OWNER_LABEL}=${owner}`,
    });
    this.pods = new Informer(kc, {
      apiVersion: 'v1',
      kind: 'Pod',
      plural: 'pods',
      namespace: ns,
      labelSelector: `${Keys.app}=virt-launcher`,
    });
    const kv = (kind: string, plural: Plural) => ({
      apiVersion: KUBEVIRT_API_VERSION,
      kind,
      plural,
      namespace: ns,
    });
    this.vms = new Informer(kc, kv('VirtualMachine', 'virtualmachines'));
    this.vmis = new Informer(kc, kv('VirtualMachineInstance', 'virtualmachineinstances'));
    this.vmims = new Informer(kc, kv('VirtualMachineInstanceMigration', 'virtualmachineinstancemigrations'));

    this.queue = new KeyedQueue(
      (key) => this.handle(key),
      (key, err) => this.log(`${key}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`),
    );
    const wake = () => {
      for (const w of [...this.waiters]) w();
    };
    this.vms.onEvent((_t, vm) => {
      this.queue.add(`vm:${keyOf(vm)}`);
      wake();
    });
    this.vmis.onEvent((_t, vmi) => {
      this.queue.add(`vmi:${keyOf(vmi)}`);
      const owner = vmi.metadata.ownerReferences?.find((r) => r.kind === 'VirtualMachine');
      if (owner) this.queue.add(`vm:${vmi.metadata.namespace}/${owner.name}`);
      wake();
    });
    this.pods.onEvent((_t, pod) => {
      const vmiUid = pod.metadata?.labels?.[Keys.createdBy];
      if (vmiUid && !isMigrationTargetPod(pod)) this.expectedLaunchers.delete(vmiUid);
      this.queue.add(`pod:${keyOf(pod)}`);
      const owner = pod.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance');
      if (owner) this.queue.add(`vmi:${pod.metadata!.namespace}/${owner.name}`);
      wake();
    });
    this.vmims.onEvent((_t, m) => {
      this.queue.add(`vmim:${keyOf(m)}`);
      this.queue.add(`vmi:${m.metadata.namespace}/${m.spec.vmiName}`);
      wake();
    });
    this.nodes.onEvent(wake);
    // KubeVirt's controllers write from their informers; a conflict re-reads (kube.ts).
    this.client.writeFrom('nodes', this.nodes);
    this.client.writeFrom('pods', this.pods);
    this.client.writeFrom('virtualmachines', this.vms);
    this.client.writeFrom('virtualmachineinstances', this.vmis);
    this.client.writeFrom('virtualmachineinstancemigrations', this.vmims);
    // Nodes first: the scheduler needs them before the first pod.
    await this.nodes.start();
    await Promise.all([this.pods.start(), this.vms.start(), this.vmis.start(), this.vmims.start()]);
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.stop$.abort();
    for (const w of [...this.waiters]) w();
    for (const inf of [this.nodes, this.pods, this.vms, this.vmis, this.vmims]) inf?.stop();
    await this.queue?.stop();
    await Promise.allSettled([...this.migrationFlows.values()]);
    if (!this.opts.keepNodes) {
      for (const name of this.nodeNames) await this.client.core.deleteNode({ name }).catch(() => undefined);
    }
  }

  // ---- controls for tests, harnesses and the demo -------------------------------------------

  /** The next migration of this VMI fails once it reaches `fault.atPhase`. */
  failNextMigration(namespace: string, vmiName: string, fault: MigrationFault): void {
    this.faults.set(`${namespace}/${vmiName}`, fault);
  }

  /** The next migration of this VMI gets a target pod that never starts (stays Pending, unschedulable). */
  targetPodNeverStarts(namespace: string, vmiName: string): void {
    this.holdNextTarget.add(`${namespace}/${vmiName}`);
  }

  /** virt-api's `restart` subresource: a Stop for the current VMI, then a Start. */
  async restartVm(namespace: string, name: string): Promise<void> {
    const vmi = await this.client.getCustom<VirtualMachineInstance>(
      'virtualmachineinstances',
      namespace,
      name,
    );
    await this.requestStateChange(namespace, name, [
      { action: 'Stop', ...(vmi ? { uid: vmi.metadata.uid } : {}) },
      { action: 'Start' },
    ]);
  }

  /** virt-api's `start` subresource (for runStrategy Manual). */
  startVm(namespace: string, name: string): Promise<void> {
    return this.requestStateChange(namespace, name, [{ action: 'Start' }]);
  }

  /** virt-api's `stop` subresource (for runStrategy Manual). */
  async stopVm(namespace: string, name: string): Promise<void> {
    const vmi = await this.client.getCustom<VirtualMachineInstance>(
      'virtualmachineinstances',
      namespace,
      name,
    );
    return this.requestStateChange(namespace, name, [
      { action: 'Stop', ...(vmi ? { uid: vmi.metadata.uid } : {}) },
    ]);
  }

  /** Re-asks the pod network for a VMI's guest addresses (the guest agent reporting again). */
  refreshGuestInfo(namespace: string, vmiName: string): void {
    this.queue.add(`vmi:${namespace}/${vmiName}`);
  }

  /**
   * `kubectl drain` seen through KubeVirt: cordons the node, then one eviction pass over its
   * launcher pods, each judged as virt-api's eviction webhook would (mark for evacuation and
   * deny, deny, or let the pod go). The evacuation controller then migrates marked VMIs.
   */
  async drainNode(name: string): Promise<DrainResult> {
    await this.cordonNode(name);
    const result: DrainResult = { marked: [], evicted: [], denied: [] };
    const onNode = this.pods
      .list()
      .filter((p) => p.spec?.nodeName === name && !isPodFinal(p) && !p.metadata?.deletionTimestamp)
      .sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    for (const pod of onNode) {
      const vmi = this.vmiOfPod(pod);
      if (!vmi) continue;
      const verdict = evictionVerdict(vmi, pod, this.opts.clusterEvictionStrategy);
      if (verdict.kind === 'deny') {
        result.denied.push({ pod: keyOf(pod), reason: verdict.reason });
      } else if (verdict.kind === 'mark') {
        await this.client.updateCustom<VirtualMachineInstance>(
          'virtualmachineinstances',
          vmi.metadata.namespace!,
          vmi.metadata.name!,
          (v) => {
            v.status = { ...v.status, evacuationNodeName: name };
          },
        );
        result.marked.push(keyOf(vmi));
        result.denied.push({
          pod: keyOf(pod),
          reason: `Eviction triggered evacuation of VMI "${vmi.metadata.namespace}/${vmi.metadata.name}"`,
        });
      } else {
        await this.client.deletePod(pod.metadata!.namespace!, pod.metadata!.name!);
        result.evicted.push(keyOf(pod));
      }
    }
    return result;
  }

  /** Marks a node unschedulable (`kubectl cordon`). */
  async cordonNode(name: string): Promise<void> {
    await this.client.updateNode(name, (n) => {
      if (n.spec?.unschedulable) return false;
      n.spec = { ...n.spec, unschedulable: true };
    });
  }

  /** Marks a node schedulable again. */
  async uncordonNode(name: string): Promise<void> {
    await this.client.updateNode(name, (n) => {
      if (!n.spec?.unschedulable) return false;
      n.spec = { ...n.spec, unschedulable: false };
    });
  }

  // ---- dispatch --------------------------------------------------------------------------------

  private handle(key: string): Promise<void> {
    const i = key.indexOf(':');
    const kind = key.slice(0, i);
    const rest = key.slice(i + 1);
    switch (kind) {
      case 'vm':
        return this.reconcileVm(rest);
      case 'vmi':
        return this.reconcileVmi(rest);
      case 'pod':
        return this.reconcilePod(rest);
      case 'vmim':
        return this.reconcileMigration(rest);
      default:
        return Promise.resolve();
    }
  }

  private log(line: string): void {
    this.opts.log?.(`kubevirt-sim: ${line}`);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stop$.signal.aborted) return Promise.reject(new Stopped());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.stop$.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(new Stopped());
      };
      this.stop$.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** A hook's promise, abandoned when the simulator stops (stop() must not hang on a held gate). */
  private async unlessStopped<T>(p: Awaitable<T>): Promise<T> {
    if (this.stop$.signal.aborted) throw new Stopped();
    let onAbort = () => undefined as void;
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Stopped());
      this.stop$.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([Promise.resolve(p), stopped]);
    } finally {
      this.stop$.signal.removeEventListener('abort', onAbort);
    }
  }

  private step(): Promise<void> {
    return this.sleep(this.timing.stepMs);
  }

  /** Resolves with the first value `probe` returns from the caches, or undefined after timeoutMs. */
  private waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.stop$.signal.aborted) {
          done();
          reject(new Stopped());
          return;
        }
        const v = probe();
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const done = () => {
        this.waiters.delete(check);
        clearTimeout(timer);
      };
      this.waiters.add(check);
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      check();
    });
  }

  // ---- nodes (kubelet registration) ------------------------------------------------------------

  private async createNodes(owner: string): Promise<void> {
    for (const [i, name] of this.nodeNames.entries()) {
      const labels = {
        [Keys.hostname]: name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        [OWNER_LABEL]: owner,
      };
      try {
        await this.client.core.createNode({ body: { metadata: { name, labels }, spec: {} } });
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw e;
        await this.client.updateNode(name, (n) => {
          n.metadata!.labels = { ...n.metadata!.labels, ...labels };
          n.spec = { ...n.spec, unschedulable: false };
        });
      }
      const now = new Date().toISOString() as unknown as Date;
      await this.client.updateNode(
        name,
        (n) => {
          n.status = {
            ...n.status,
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'KubeletReady',
                message: 'kubelet is posting ready status (kubevirt-sim)',
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
            addresses: [
              { type: 'InternalIP', address: `192.168.${200 + Math.floor(i / 250)}.${(i % 250) + 2}` },
              { type: 'Hostname', address: name },
            ],
            capacity: { cpu: '16', memory: '64Gi', pods: '110', 'devices.kubevirt.io/kvm': '1k' },
            allocatable: { cpu: '16', memory: '64Gi', pods: '110', 'devices.kubevirt.io/kvm': '1k' },
          };
        },
        { status: true },
      );
    }
  }

  private nodeAddress(name: string): string | undefined {
    return this.nodes.store.get(name)?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  }

  // ---- VM controller -------------------------------------------------------------------------

  private async requestStateChange(
    namespace: string,
    name: string,
    requests: { action: 'Start' | 'Stop'; uid?: string }[],
  ): Promise<void> {
    const done = await this.client.updateCustom<VirtualMachine>(
      'virtualmachines',
      namespace,
      name,
      (vm) => {
        vm.status = {
          ...vm.status,
          stateChangeRequests: [...(vm.status?.stateChangeRequests ?? []), ...requests],
        };
      },
      { status: true },
    );
    if (!done) throw new Error(`VirtualMachine ${namespace}/${name} not found`);
  }

  private async reconcileVm(key: string): Promise<void> {
    const vm = this.vms.store.get(key);
    if (!vm) return;
    const [namespace, name] = key.split('/') as [string, string];
    const vmi = this.vmis.store.get(key);
    const ownVmi = vmi && isControlledBy(vmi, vm.metadata.uid!) ? vmi : undefined;

    if (vm.metadata.deletionTimestamp) {
      if (ownVmi) {
        if (!ownVmi.metadata.deletionTimestamp) await this.deleteVmi(ownVmi);
        return;
      }
      await this.removeFinalizers('virtualmachines', namespace, name, [
        Finalizers.vmController,
        'foregroundDeletion',
      ]);
      return;
    }
    if (!vm.metadata.finalizers?.includes(Finalizers.vmController)) {
      await this.client.updateCustom<VirtualMachine>('virtualmachines', namespace, name, (v) => {
        if (v.metadata.finalizers?.includes(Finalizers.vmController)) return false;
        v.metadata.finalizers = [...(v.metadata.finalizers ?? []), Finalizers.vmController];
      });
      return;
    }

    const request = vm.status?.stateChangeRequests?.[0];
    if (request) {
      if (request.action === 'Stop' && ownVmi && (!request.uid || request.uid === ownVmi.metadata.uid)) {
        if (!ownVmi.metadata.deletionTimestamp) await this.deleteVmi(ownVmi);
        return;
      }
      if (request.action === 'Start' && !ownVmi) await this.createVmi(vm);
      if (request.action === 'Start' && ownVmi && isFinalVmi(ownVmi)) {
        if (!ownVmi.metadata.deletionTimestamp) await this.deleteVmi(ownVmi);
        return;
      }
      await this.step();
      await this.client.updateCustom<VirtualMachine>(
        'virtualmachines',
        namespace,
        name,
        (v) => {
          const reqs = v.status?.stateChangeRequests ?? [];
          if (!reqs.length) return false;
          v.status = { ...v.status, stateChangeRequests: reqs.slice(1) };
        },
        { status: true },
      );
      return;
    }

    const strategy = runStrategyOf(vm);
    const phase = ownVmi?.status?.phase;
    if (strategy === 'Always' || strategy === 'RerunOnFailure') {
      if (vmi && !ownVmi) return; // a VMI of that name that is not ours: KubeVirt waits too
      if (!ownVmi) {
        await this.createVmi(vm);
        return;
      }
      const restart = phase === 'Failed' || (strategy === 'Always' && phase === 'Succeeded');
      if (restart && !ownVmi.metadata.deletionTimestamp) {
        await this.deleteVmi(ownVmi);
        return;
      }
    } else if (strategy === 'Halted') {
      if (ownVmi && !ownVmi.metadata.deletionTimestamp) {
        await this.deleteVmi(ownVmi);
        return;
      }
    }
    await this.updateVmStatus(vm, ownVmi);
  }

  private async createVmi(vm: VirtualMachine): Promise<void> {
    await this.step();
    try {
      await this.client.createCustom('virtualmachineinstances', vmiForVm(vm));
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
    }
  }

  private async deleteVmi(vmi: VirtualMachineInstance): Promise<void> {
    await this.step();
    await this.client.deleteCustom('virtualmachineinstances', vmi.metadata.namespace!, vmi.metadata.name!);
  }

  private async updateVmStatus(vm: VirtualMachine, vmi: VirtualMachineInstance | undefined): Promise<void> {
    const want = {
      created: vmi !== undefined,
      ready: vmi !== undefined && vmi.status?.phase === 'Running' && isTrue(vmi.status.conditions, 'Ready'),
      printableStatus: printableStatus(vm, vmi),
    };
    const s = vm.status ?? {};
    if (s.created === want.created && s.ready === want.ready && s.printableStatus === want.printableStatus)
      return;
    await this.client.updateCustom<VirtualMachine>(
      'virtualmachines',
      vm.metadata.namespace!,
      vm.metadata.name!,
      (v) => {
        v.status = { ...v.status, ...want };
      },
      { status: true },
    );
  }

  private async removeFinalizers(plural: Plural, namespace: string, name: string, finalizers: string[]) {
    await this.client.updateCustom<{ metadata: k8s.V1ObjectMeta }>(plural, namespace, name, (o) => {
      const before = o.metadata.finalizers ?? [];
      const after = before.filter((f) => !finalizers.includes(f));
      if (after.length === before.length) return false;
      o.metadata.finalizers = after;
    });
  }

  // ---- VMI controller + virt-handler -----------------------------------------------------------

  private podsOf(vmi: VirtualMachineInstance): V1Pod[] {
    return this.pods
      .list()
      .filter((p) => p.metadata?.namespace === vmi.metadata.namespace && isControlledBy(p, vmi.metadata.uid!))
      .sort(byCreation);
  }

  private vmiOfPod(pod: V1Pod): VirtualMachineInstance | undefined {
    const ref = pod.metadata?.ownerReferences?.find(
      (r) => r.kind === 'VirtualMachineInstance' && r.controller,
    );
    if (!ref) return undefined;
    const vmi = this.vmis.store.get(`${pod.metadata!.namespace}/${ref.name}`);
    return vmi?.metadata.uid === ref.uid ? vmi : undefined;
  }

  /** The launcher pod the VMI runs in now: live, on the VMI's node (or its only pod before that). */
  private currentPod(vmi: VirtualMachineInstance, pods: V1Pod[]): V1Pod | undefined {
    const live = pods.filter((p) => !isPodFinal(p) && !p.metadata?.deletionTimestamp);
    if (!vmi.status?.nodeName) return live.find((p) => !isMigrationTargetPod(p));
    return live.filter((p) => p.spec?.nodeName === vmi.status!.nodeName).at(-1);
  }

  private async setVmiPhase(
    vmi: VirtualMachineInstance,
    phase: VmiPhase,
    extra: (v: VirtualMachineInstance) => void = () => undefined,
  ): Promise<void> {
    await this.step();
    await this.client.updateCustom<VirtualMachineInstance>(
      'virtualmachineinstances',
      vmi.metadata.namespace!,
      vmi.metadata.name!,
      (v) => {
        if (v.metadata.uid !== vmi.metadata.uid || v.status?.phase !== vmi.status?.phase) return false;
        v.status = {
          ...v.status,
          phase,
          phaseTransitionTimestamps: [
            ...(v.status?.phaseTransitionTimestamps ?? []),
            { phase, phaseTransitionTimestamp: metaTime(new Date()) },
          ],
        };
        extra(v);
      },
    );
  }

  private async reconcileVmi(key: string): Promise<void> {
    const vmi = this.vmis.store.get(key);
    if (!vmi) return;
    const [namespace, name] = key.split('/') as [string, string];
    const pods = this.podsOf(vmi);

    if (vmi.metadata.deletionTimestamp) {
      const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
      for (const p of live) await this.client.deletePod(namespace, p.metadata!.name!);
      if (pods.length === 0) {
        await this.step();
        await this.removeFinalizers('virtualmachineinstances', namespace, name, [
          Finalizers.vmiForeground,
          Finalizers.vmController,
          'foregroundDeletion',
        ]);
      }
      return;
    }
    if (!vmi.metadata.finalizers?.includes(Finalizers.vmiForeground)) {
      // virt-api's mutating webhook would have added it at create.
      await this.client.updateCustom<VirtualMachineInstance>(
        'virtualmachineinstances',
        namespace,
        name,
        (v) => {
          if (v.metadata.finalizers?.includes(Finalizers.vmiForeground)) return false;
          v.metadata.finalizers = [...(v.metadata.finalizers ?? []), Finalizers.vmiForeground];
        },
      );
      return;
    }

    const phase = vmi.status?.phase ?? '';
    const pod = this.currentPod(vmi, pods);
    switch (phase) {
      case '':
        if (pods.length === 0) await this.createLauncherPod(vmi);
        await this.setVmiPhase(vmi, pods.length === 0 ? 'Pending' : 'Scheduling');
        return;
      case 'Pending':
        if (pods.length === 0) {
          await this.createLauncherPod(vmi);
          return;
        }
        await this.setVmiPhase(vmi, 'Scheduling');
        return;
      case 'Scheduling':
        if (!pod) {
          if (pods.some(isPodFinal) || pods.length === 0) await this.failVmi(vmi, 'PodTerminating');
          return;
        }
        if (!isPodReady(pod)) return;
        await this.setVmiPhase(vmi, 'Scheduled', (v) => {
          v.status!.nodeName = pod.spec!.nodeName!;
          v.metadata.labels = { ...v.metadata.labels, [Keys.nodeName]: pod.spec!.nodeName! };
        });
        return;
      case 'Scheduled': {
        if (!pod) return this.failVmi(vmi, 'PodTerminating');
        const status = await this.runtimeStatus(vmi, pod, pods);
        await this.setVmiPhase(vmi, 'Running', (v) => Object.assign(v.status!, status));
        return;
      }
      case 'Running':
        return this.reconcileRunningVmi(vmi, pod, pods);
      default:
        return this.syncActivePods(vmi, pods);
    }
  }

  /** Creates the VMI's launcher pod unless one was created and its watch event is still on the way. */
  private async createLauncherPod(vmi: VirtualMachineInstance): Promise<void> {
    const uid = vmi.metadata.uid!;
    if (this.expectedLaunchers.has(uid)) return;
    this.expectedLaunchers.add(uid);
    try {
      await this.step();
      await this.client.core.createNamespacedPod({
        namespace: vmi.metadata.namespace!,
        body: launcherPod(vmi),
      });
    } catch (e) {
      this.expectedLaunchers.delete(uid);
      throw e;
    }
  }

  private async failVmi(vmi: VirtualMachineInstance, reason: string): Promise<void> {
    await this.setVmiPhase(vmi, 'Failed', (v) => {
      v.status!.reason = reason;
      v.status!.conditions = mergeConditions(v.status!.conditions, [
        {
          type: 'Ready',
          status: 'False',
          reason,
          lastProbeTime: null,
          lastTransitionTime: metaTime(new Date()),
        },
      ]);
    });
  }

  /** virt-handler's view of a running domain: conditions, interfaces, active pods. */
  private async runtimeStatus(
    vmi: VirtualMachineInstance,
    pod: V1Pod,
    pods: V1Pod[],
  ): Promise<NonNullable<VirtualMachineInstance['status']>> {
    const guest = new Map<string, GuestNetworkInfo | undefined>();
    for (const iface of vmi.spec.domain.devices.interfaces ?? []) {
      guest.set(iface.name, await this.opts.network?.guest?.({ vmi, pod, iface }));
    }
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
    return {
      conditions: mergeConditions(vmi.status?.conditions, [
        {
          type: 'Ready',
          status: ready?.status === 'True' ? 'True' : 'False',
          lastProbeTime: null,
          lastTransitionTime: (ready?.lastTransitionTime as unknown as string | undefined) ?? null,
        },
        liveMigratableCondition(vmi, this.opts.migratableBindings),
      ]),
      interfaces: interfaceStatuses(vmi, (iface) => guest.get(iface.name)),
      activePods: activePods(pods),
    };
  }

  private async syncActivePods(vmi: VirtualMachineInstance, pods: V1Pod[]): Promise<void> {
    const want = activePods(pods);
    if (sameJson(vmi.status?.activePods ?? {}, want)) return;
    await this.client.updateCustom<VirtualMachineInstance>(
      'virtualmachineinstances',
      vmi.metadata.namespace!,
      vmi.metadata.name!,
      (v) => {
        if (v.metadata.uid !== vmi.metadata.uid) return false;
        v.status = { ...v.status, activePods: want };
      },
    );
  }

  private migrating(vmi: VirtualMachineInstance): boolean {
    const s = vmi.status?.migrationState;
    return this.activeByVmi.has(`${vmi.metadata.namespace}/${vmi.metadata.name}`) || (!!s && !s.completed);
  }

  private async reconcileRunningVmi(vmi: VirtualMachineInstance, pod: V1Pod | undefined, pods: V1Pod[]) {
    const [namespace, name] = [vmi.metadata.namespace!, vmi.metadata.name!];
    if (!pod) {
      if (!this.migrating(vmi)) await this.failVmi(vmi, 'PodTerminating');
      return;
    }
    // watch/vmi/lifecycle.go: the current pod carries the VMI's node in its nodeName label.
    const nodeName = vmi.status!.nodeName!;
    if (pod.metadata?.labels?.[Keys.nodeName] !== nodeName) {
      await this.step();
      await this.client.updatePod(namespace, pod.metadata!.name!, (p) => {
        if (p.metadata!.labels?.[Keys.nodeName] === nodeName) return false;
        p.metadata!.labels = { ...p.metadata!.labels, [Keys.nodeName]: nodeName };
      });
    }
    const want = await this.runtimeStatus(vmi, pod, pods);
    const have = vmi.status!;
    if (
      !sameJson(have.conditions, want.conditions) ||
      !sameJson(have.interfaces, want.interfaces) ||
      !sameJson(have.activePods ?? {}, want.activePods)
    ) {
      await this.step();
      await this.client.updateCustom<VirtualMachineInstance>(
        'virtualmachineinstances',
        namespace,
        name,
        (v) => {
          if (v.metadata.uid !== vmi.metadata.uid || v.status?.phase !== 'Running') return false;
          v.status = {
            ...v.status,
            conditions: mergeConditions(v.status?.conditions, want.conditions ?? []),
            interfaces: want.interfaces,
            activePods: want.activePods,
          };
        },
      );
      return;
    }
    await this.evacuateIfMarked(vmi, pods);
  }

  /** drain/evacuation/evacuation.go: one migration for a VMI marked for evacuation off its node. */
  private async evacuateIfMarked(vmi: VirtualMachineInstance, pods: V1Pod[]): Promise<void> {
    const node = vmi.status?.evacuationNodeName;
    if (!node || node !== vmi.status?.nodeName) return;
    if (!migratesOnEviction(vmi, this.opts.clusterEvictionStrategy)) return;
    if (!isTrue(vmi.status?.conditions, 'LiveMigratable')) return;
    const key = `${vmi.metadata.namespace}/${vmi.metadata.name}`;
    if (this.migrating(vmi) || this.activeMigrationFor(vmi)) return;
    if (pods.filter((p) => !isPodFinal(p)).length > 1) return;
    const backoff = this.evacuationBackoff.get(key);
    if (backoff && Date.now() < backoff.until) {
      this.queue.addAfter(`vmi:${key}`, backoff.until - Date.now());
      return;
    }
    // Claimed before the create, so that a second look before the VMIM's watch event makes no duplicate.
    this.activeByVmi.set(key, '');
    try {
      await this.step();
      const created = await this.client.createCustom(
        'virtualmachineinstancemigrations',
        evacuationMigration(vmi, node),
      );
      this.log(`evacuation: ${key} off ${node} by ${created.metadata!.name}`);
    } catch (e) {
      this.activeByVmi.delete(key);
      throw e;
    }
  }

  private activeMigrationFor(vmi: VirtualMachineInstance): VirtualMachineInstanceMigration | undefined {
    return this.vmims
      .list()
      .find(
        (m) =>
          m.metadata.namespace === vmi.metadata.namespace &&
          m.spec.vmiName === vmi.metadata.name &&
          m.status?.phase !== 'Succeeded' &&
          m.status?.phase !== 'Failed',
      );
  }

  // ---- scheduler, kubelet, garbage collector for launcher pods ----------------------------------

  private async reconcilePod(key: string): Promise<void> {
    const pod = this.pods.store.get(key);
    if (!pod) return;
    const [namespace, name] = key.split('/') as [string, string];
    if (pod.metadata?.deletionTimestamp) {
      // The kubelet stops the containers and confirms the deletion.
      await this.step();
      if (!isPodFinal(pod)) await this.opts.network?.teardown?.(pod);
      await this.client.deletePod(namespace, name, 0);
      return;
    }
    const ref = pod.metadata?.ownerReferences?.find(
      (r) => r.kind === 'VirtualMachineInstance' && r.controller,
    );
    if (ref && !this.vmiOfPod(pod)) {
      // Garbage collector: the owner is gone (checked live: the VMI watch may lag the pod's).
      const live = await this.client.getCustom<VirtualMachineInstance>(
        'virtualmachineinstances',
        namespace,
        ref.name,
      );
      if (!live || live.metadata.uid !== ref.uid) {
        await this.client.deletePod(namespace, name);
        return;
      }
    }
    if (isPodFinal(pod)) return;
    const jobUid = pod.metadata?.labels?.[Keys.migrationJobUid];
    const held = jobUid !== undefined && this.heldTargets.has(jobUid);
    if (!pod.spec?.nodeName) {
      if (held) {
        if (pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.reason === 'Unschedulable'))
          return;
        await this.writePodStatus(pod, (p) =>
          unschedulablePodStatus(p, metaTime(new Date()), '0/N nodes are available (kubevirt-sim: held)'),
        );
        return;
      }
      await this.sleep(this.timing.podStartMs);
      const node = this.placeFor(pod);
      if (!node) {
        await this.writePodStatus(pod, (p) =>
          unschedulablePodStatus(p, metaTime(new Date()), `0/${this.nodeNames.length} nodes are available`),
        );
        // Nothing we watch tells us when a node frees up (e.g. an uncordon); look again later.
        this.queue.addAfter(`pod:${key}`, 200);
        return;
      }
      try {
        await this.client.core.createNamespacedPodBinding({
          namespace,
          name,
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name },
            target: { kind: 'Node', name: node },
          },
        });
      } catch (e) {
        // Already bound: our cache lagged behind our own binding.
        if ((e as { code?: number }).code !== 409) throw e;
      }
      return;
    }
    if (pod.status?.phase === 'Running') return;
    await this.sleep(this.timing.podStartMs);
    const node = pod.spec.nodeName;
    const ips = (await this.opts.network?.podIPs?.(pod, node)) ?? [];
    await this.writePodStatus(pod, (p) =>
      p.status?.phase === 'Pending' && !p.metadata?.deletionTimestamp
        ? runningPodStatus(p, metaTime(new Date()), this.nodeAddress(node) ?? '', ips)
        : undefined,
    );
  }

  /** virt-launcher exited: the kubelet tears the pod's network down and reports it Completed. */
  private async finishPod(pod: V1Pod): Promise<void> {
    await this.opts.network?.teardown?.(pod);
    await this.writePodStatus(pod, (p) => finishedPodStatus(p, metaTime(new Date()), 'Succeeded'));
  }

  /** The kubelet's status write; `status` returns undefined to leave the pod as it is. */
  private async writePodStatus(pod: V1Pod, status: (p: V1Pod) => V1Pod['status'] | undefined): Promise<void> {
    await this.client.updatePod(
      pod.metadata!.namespace!,
      pod.metadata!.name!,
      (p) => {
        if (p.metadata!.uid !== pod.metadata!.uid) return false;
        const next = status(p);
        if (!next) return false;
        p.status = next;
      },
      { status: true },
    );
  }

  private placeFor(pod: V1Pod): string | undefined {
    const load = new Map<string, number>();
    const avoid = new Set<string>();
    const vmiUid = pod.metadata?.labels?.[Keys.createdBy];
    for (const p of this.pods.list()) {
      if (!p.spec?.nodeName || isPodFinal(p) || p.metadata?.deletionTimestamp) continue;
      load.set(p.spec.nodeName, (load.get(p.spec.nodeName) ?? 0) + 1);
      // The target pod's anti-affinity: never beside another live pod of the same VMI.
      if (vmiUid && p.metadata?.labels?.[Keys.createdBy] === vmiUid) avoid.add(p.spec.nodeName);
    }
    const nodes = this.nodeNames.map((name) => {
      const n = this.nodes.store.get(name);
      return { name, schedulable: !!n && !n.spec?.unschedulable };
    });
    return pickNode({ nodes, load, avoid });
  }

  // ---- migration controller + source/target virt-handlers -------------------------------------

  private async reconcileMigration(key: string): Promise<void> {
    const m = this.vmims.store.get(key);
    if (!m) return;
    const uid = m.metadata.uid!;
    if (m.status?.phase === 'Succeeded' || m.status?.phase === 'Failed') {
      if (m.metadata.finalizers?.includes(Finalizers.migration) && !this.migrationFlows.has(uid)) {
        await this.removeFinalizers(
          'virtualmachineinstancemigrations',
          m.metadata.namespace!,
          m.metadata.name!,
          [Finalizers.migration],
        );
      }
      return;
    }
    if (this.migrationFlows.has(uid) || this.migrationsSeen.has(uid)) return;
    if (m.status?.phase) {
      // A migration in flight that this process did not start (left from another run): fail it.
      await this.setMigrationPhase(m, 'Failed', {
        failed: true,
        completed: true,
        failureReason: 'simulator restarted',
      });
      return;
    }
    const vmiKey = flowKey(m);
    this.migrationsSeen.add(uid);
    const flow = this.migrate(m)
      .catch((e) => {
        if (!(e instanceof Stopped))
          this.log(`migration ${key}: ${e instanceof Error ? e.message : String(e)}`);
      })
      .finally(() => {
        this.migrationFlows.delete(uid);
        if (this.activeByVmi.get(vmiKey) === uid) this.activeByVmi.delete(vmiKey);
        this.queue.add(`vmim:${key}`);
        this.queue.add(`vmi:${vmiKey}`);
      });
    this.migrationFlows.set(uid, flow);
  }

  private async setMigrationPhase(
    m: VirtualMachineInstanceMigration,
    phase: MigrationPhase,
    state?: MigrationState,
  ): Promise<void> {
    await this.step();
    const written = await this.client.updateCustom<VirtualMachineInstanceMigration>(
      'virtualmachineinstancemigrations',
      m.metadata.namespace!,
      m.metadata.name!,
      (v) => {
        if (
          v.metadata.uid !== m.metadata.uid ||
          v.status?.phase === 'Succeeded' ||
          v.status?.phase === 'Failed'
        )
          return false;
        const stamps: PhaseTransition<MigrationPhase>[] = v.status?.phaseTransitionTimestamps ?? [];
        v.status = {
          ...v.status,
          phase,
          phaseTransitionTimestamps: [...stamps, { phase, phaseTransitionTimestamp: metaTime(new Date()) }],
          ...(state ? { migrationState: { ...v.status?.migrationState, ...state } } : {}),
        };
      },
      { status: true },
    );
    this.log(`migration ${m.metadata.namespace}/${m.metadata.name} (${m.spec.vmiName}): ${phase}`);
    if (written) this.opts.hooks?.onMigrationPhase?.(phase, written);
  }

  private async updateVmiMigrationState(
    vmi: VirtualMachineInstance,
    state: MigrationState,
    extra: (v: VirtualMachineInstance) => void = () => undefined,
  ): Promise<VirtualMachineInstance> {
    await this.step();
    const v = await this.client.updateCustom<VirtualMachineInstance>(
      'virtualmachineinstances',
      vmi.metadata.namespace!,
      vmi.metadata.name!,
      (v) => {
        if (v.metadata.uid !== vmi.metadata.uid) return false;
        // A new migration gets a fresh record, as KubeVirt writes it in PreparingTarget; the last
        // one's completed/failed fields must not leak into it.
        const prev = v.status?.migrationState;
        const fresh = state.migrationUid !== undefined && state.migrationUid !== prev?.migrationUid;
        v.status = { ...v.status, migrationState: fresh ? { ...state } : { ...prev, ...state } };
        extra(v);
      },
    );
    if (!v) throw new MigrationFailed('VMI is gone');
    return v;
  }

  /** One migration, in the order KubeVirt's controller and handlers produce it. */
  private async migrate(m0: VirtualMachineInstanceMigration): Promise<void> {
    const namespace = m0.metadata.namespace!;
    const vmiKey = flowKey(m0);
    // virt-api's migration webhooks: label and finalizer at create.
    const m =
      (await this.client.updateCustom<VirtualMachineInstanceMigration>(
        'virtualmachineinstancemigrations',
        namespace,
        m0.metadata.name!,
        (v) => {
          v.metadata.labels = { ...v.metadata.labels, [Keys.migrationVmiName]: v.spec.vmiName };
          v.metadata.finalizers = [...new Set([...(v.metadata.finalizers ?? []), Finalizers.migration])];
        },
      )) ?? m0;
    const busy = this.activeByVmi.get(vmiKey);
    if (!busy) this.activeByVmi.set(vmiKey, m.metadata.uid!);
    const fault = this.faults.get(vmiKey);
    this.faults.delete(vmiKey);
    const holdTarget = this.holdNextTarget.delete(vmiKey);
    const vmi0 = this.vmis.store.get(vmiKey);
    const other = this.vmims
      .list()
      .find(
        (o) =>
          o.metadata.uid !== m.metadata.uid &&
          o.metadata.namespace === namespace &&
          o.spec.vmiName === m.spec.vmiName &&
          o.status?.phase &&
          o.status.phase !== 'Succeeded' &&
          o.status.phase !== 'Failed',
      );
    // Admission would have refused these; the simulator fails them instead.
    let refusal: string | undefined;
    if (!vmi0 || vmi0.status?.phase !== 'Running') refusal = `VMI ${vmiKey} is not running`;
    else if (!isTrue(vmi0.status.conditions, 'LiveMigratable'))
      refusal = `VMI ${vmiKey} is not live migratable (${vmi0.status.conditions?.find((c) => c.type === 'LiveMigratable')?.reason ?? 'unknown'})`;
    else if (other || busy)
      refusal = `another migration (${other?.metadata.name ?? busy}) is in progress for VMI ${vmiKey}`;
    if (refusal) {
      await this.setMigrationPhase(m, 'Failed', { failed: true, completed: true, failureReason: refusal });
      return;
    }
    const vmi = vmi0!;
    const sourcePod = this.currentPod(vmi, this.podsOf(vmi));
    if (!sourcePod) {
      await this.setMigrationPhase(m, 'Failed', {
        failed: true,
        completed: true,
        failureReason: 'no source pod',
      });
      return;
    }
    const sourceNode = vmi.status!.nodeName!;
    const state: MigrationState = { sourceNode, sourcePod: sourcePod.metadata!.name! };
    let targetPod: V1Pod | undefined;
    let handedOff = false;
    let phase: MigrationPhase = 'Pending';
    const at = async (p: MigrationPhase, extra?: MigrationState) => {
      phase = p;
      Object.assign(state, extra);
      await this.setMigrationPhase(m, p, state);
      if (fault?.atPhase === p) throw new MigrationFailed(fault.reason ?? `simulated failure in ${p}`);
    };
    try {
      await at('Pending');

      if (holdTarget) this.heldTargets.add(m.metadata.uid!);
      await this.step();
      targetPod = await this.client.core.createNamespacedPod({ namespace, body: launcherPod(vmi, m) });
      const targetKey = `${namespace}/${targetPod.metadata!.name}`;
      await this.unlessStopped(
        this.opts.hooks?.onTargetPodCreated?.({ migration: m, vmi, sourcePod, sourceNode, targetPod }),
      );
      await at('Scheduling');

      const ready = await this.waitFor(() => {
        const p = this.pods.store.get(targetKey);
        if (p && isPodReady(p)) return p;
        return undefined;
      }, this.timing.targetPendingTimeoutMs);
      if (!ready) {
        // watch/migration: the pending target pod is deleted; its loss fails the migration.
        await this.client.deletePod(namespace, targetPod.metadata!.name!);
        throw new MigrationFailed(`pending pod ${targetKey} timeout period exceeded`);
      }
      targetPod = ready;
      const targetNode = ready.spec!.nodeName!;
      await at('Scheduled');

      // Hand-off to the handlers: the VMI's migration state names both ends.
      Object.assign(state, {
        migrationUid: m.metadata.uid,
        targetNode,
        targetPod: targetPod.metadata!.name!,
      });
      await this.updateVmiMigrationState(vmi, state, (v) => {
        v.metadata.labels = { ...v.metadata.labels, [Keys.migrationTargetNodeName]: targetNode };
      });
      handedOff = true;
      await at('PreparingTarget');

      // What the node-side hooks see of this migration from the hand-off on.
      const handedOver = { migration: m, vmi, sourcePod, sourceNode, targetPod, targetNode };
      await this.opts.hooks?.awaitTargetReady?.(handedOver);
      if (this.stop$.signal.aborted) throw new Stopped();
      state.targetNodeAddress = this.nodeAddress(targetNode) ?? targetNode;
      await this.updateVmiMigrationState(vmi, state);
      await at('TargetReady');

      Object.assign(state, { startTimestamp: metaTime(new Date()), mode: 'PreCopy' as const });
      await this.updateVmiMigrationState(vmi, state);
      state.targetNodeDomainDetected = true;
      await this.updateVmiMigrationState(vmi, state);
      await at('Running');

      await this.sleep(this.timing.migrationMs);
      await this.unlessStopped(this.opts.hooks?.onTargetDomainReady?.(handedOver));
      state.targetNodeDomainReadyTimestamp = metaTime(new Date());
      await this.updateVmiMigrationState(vmi, state);
      await this.step();
      await this.client.updatePod(namespace, targetPod.metadata!.name!, (p) => {
        p.metadata!.annotations = {
          ...p.metadata!.annotations,
          [Keys.migrationTargetReadyTimestamp]: goTimeString(state.targetNodeDomainReadyTimestamp!),
        };
      });

      // The target handler acknowledges completion: the VMI now lives on the target node.
      Object.assign(state, { endTimestamp: metaTime(new Date()), completed: true });
      await this.updateVmiMigrationState(vmi, state, (v) => {
        v.status!.nodeName = targetNode;
        delete v.status!.evacuationNodeName;
        const labels: Record<string, string> = { ...v.metadata.labels, [Keys.nodeName]: targetNode };
        delete labels[Keys.migrationTargetNodeName];
        v.metadata.labels = labels;
      });
      // virt-launcher on the source exits: the kubelet reports the pod Completed; it stays.
      await this.step();
      await this.finishPod(sourcePod);
      this.evacuationBackoff.delete(vmiKey);
      await at('Succeeded');
    } catch (e) {
      if (e instanceof Stopped) throw e;
      const reason = e instanceof Error ? e.message : String(e);
      this.log(`migration ${namespace}/${m.metadata.name} failed in ${phase}: ${reason}`);
      Object.assign(state, {
        failed: true,
        completed: true,
        failureReason: reason,
        endTimestamp: metaTime(new Date()),
      });
      if (handedOff) {
        await this.updateVmiMigrationState(vmi, state, (v) => {
          const labels = { ...v.metadata.labels };
          delete labels[Keys.migrationTargetNodeName];
          v.metadata.labels = labels;
        }).catch(() => undefined);
        // The target's virt-launcher exits; its pod ends Completed and stays (as in KubeVirt).
        if (targetPod) {
          await this.finishPod(targetPod);
        }
      } else if (targetPod) {
        await this.client.deletePod(namespace, targetPod.metadata!.name!);
      }
      if (m.metadata.annotations?.[Keys.evacuationMigration]) {
        const prev = this.evacuationBackoff.get(vmiKey)?.delay ?? this.timing.evacuationBackoffMs / 2;
        const delay = prev * 2;
        this.evacuationBackoff.set(vmiKey, { until: Date.now() + delay, delay });
      }
      await this.setMigrationPhase(m, 'Failed', state);
    } finally {
      this.heldTargets.delete(m.metadata.uid!);
    }
  }
}

// ---- small pure helpers ------------------------------------------------------------------------

function flowKey(m: VirtualMachineInstanceMigration): string {
  return `${m.metadata.namespace}/${m.spec.vmiName}`;
}

function isFinalVmi(vmi: VirtualMachineInstance): boolean {
  return vmi.status?.phase === 'Succeeded' || vmi.status?.phase === 'Failed';
}

function byCreation(a: V1Pod, b: V1Pod): number {
  const ta = String(a.metadata?.creationTimestamp ?? '');
  const tb = String(b.metadata?.creationTimestamp ?? '');
  return ta.localeCompare(tb) || (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '');
}

/** VMI `status.activePods`: every owned pod, completed ones included (UID → node). */
function activePods(pods: V1Pod[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pods) if (p.spec?.nodeName) out[p.metadata!.uid!] = p.spec.nodeName;
  return out;
}

/** Replaces conditions of the given types, keeping the others and the transition time of unchanged ones. */
function mergeConditions(have: Condition[] | undefined, set: Condition[]): Condition[] {
  const out = [...(have ?? [])];
  for (const c of set) {
    const i = out.findIndex((o) => o.type === c.type);
    if (i < 0) out.push(c);
    else if (out[i]!.status === c.status && out[i]!.reason === c.reason)
      out[i] = { ...c, lastTransitionTime: out[i]!.lastTransitionTime ?? c.lastTransitionTime };
    else out[i] = c;
  }
  return out;
}

/** Deep equality of JSON values, key order ignored (the API server returns maps sorted). */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}
