// The Manager owns what controllers share: one REST client, one informer per watched kind (and
// selector), leader election, the probe/metrics endpoints, the logger. Start order, as in
// controller-runtime: endpoints → informers (every replica keeps warm caches) → wait for sync →
// leader election (if enabled) → controllers. Losing the lease stops every controller at once and
// ends done() with LeadershipLostError; the process is expected to exit and restart.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { sourceResource, type Controller, type Source } from './controller.js';
import { EventRecorder } from './events.js';
import { Informer } from './informer.js';
import { InfraClusters } from './clusters.js';
import type { KubeConnection } from './kubeconfig.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import { silentLogger, type Logger } from './log.js';
import { RuntimeMetrics } from './metrics.js';
import { RestClient } from './rest.js';
import { EndpointServer } from './serve.js';
import { refKey, type KubeObject } from './types.js';

export class LeadershipLostError extends Error {
  constructor() {
    super('leader election lost');
    this.name = 'LeadershipLostError';
  }
}

export interface ManagerOptions {
  /** Where the management cluster is: loadConnection(), or a client-node KubeConfig. */
  kubeConfig: KubeConnection;
  /** Namespaces to cache namespaced kinds in; empty means all. */
  namespaces?: string[];
  logger?: Logger;
  metrics?: RuntimeMetrics;
  leaderElection?: Partial<Omit<LeaderElectionOptions, 'logger' | 'metrics'>> & { enabled: boolean };
  /** "host:port", ":port"; "0" or missing disables. The same address serves both. */
  healthProbeBindAddress?: string;
  metricsBindAddress?: string;
  /** Re-deliver every cached object this often (controller-runtime's SyncPeriod); 0 disables. */
  syncPeriodMs?: number;
  /** Restart watches silent this long. */
  watchSilenceMs?: number;
  /** Field manager for server-side apply. */
  fieldManager?: string;
}

export class Manager {
  readonly client: RestClient;
  readonly log: Logger;
  readonly metrics: RuntimeMetrics;
  readonly identity: string;
  readonly fieldManager: string;
  readonly infraClusters: InfraClusters;
  private readonly informers = new Map<string, Informer>();
  private readonly remoteInformers = new Map<string, Informer>();
  private readonly controllers: Controller[] = [];
  private readonly servers: EndpointServer[] = [];
  private elector?: LeaderElector;
  private started = false;
  private controllersRunning = false;
  private stopping = false;
  private settle!: { resolve: () => void; reject: (e: Error) => void };
  /** Resolves after stop(); rejects with LeadershipLostError when the lease is lost. */
  readonly done: Promise<void>;

  constructor(readonly opts: ManagerOptions) {
    this.log = opts.logger ?? silentLogger();
    this.metrics = opts.metrics ?? new RuntimeMetrics();
    const requests = this.metrics.restRequests;
    this.client = new RestClient(opts.kubeConfig, (method, code) =>
      requests.inc({ method, code: String(code) }),
    );
    this.fieldManager = opts.fieldManager ?? 'capk-podnet';
    this.identity = opts.leaderElection?.identity ?? `${hostname()}_${randomBytes(4).toString('hex')}`;
    this.infraClusters = new InfraClusters(this.client);
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined); // observed through done by whoever cares
  }

  /** The shared informer for a source; created on first use, started if the manager runs. */
  informer<T extends KubeObject = KubeObject>(source: Source): Informer<T> {
    const resource = sourceResource(source);
    const sel: { labelSelector?: string; fieldSelector?: string } = 'resource' in source ? source : {};
    const key = `${refKey(resource)}?l=${sel.labelSelector ?? ''}&f=${sel.fieldSelector ?? ''}`;
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new Informer(this.client, {
        resource,
        namespaces: this.opts.namespaces,
        labelSelector: sel.labelSelector,
        fieldSelector: sel.fieldSelector,
        resyncMs: this.opts.syncPeriodMs ?? 0,
        silenceMs: this.opts.watchSilenceMs,
        logger: this.log,
        metrics: this.metrics,
      });
      this.informers.set(key, inf);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /**
   * A shared informer on another cluster (an infra cluster's client from infraClusters), started at
   * once if the manager runs. It does not count for readiness: a remote cluster may be unreachable.
   */
  informerOn<T extends KubeObject = KubeObject>(
    client: RestClient,
    source: Source,
    namespaces?: string[],
  ): Informer<T> {
    const resource = sourceResource(source);
    const sel: { labelSelector?: string; fieldSelector?: string } = 'resource' in source ? source : {};
    const key = `${client.host}|${refKey(resource)}?l=${sel.labelSelector ?? ''}&f=${sel.fieldSelector ?? ''}&ns=${(namespaces ?? []).join(',')}`;
    let inf = this.remoteInformers.get(key);
    if (!inf || inf.client !== client) {
      void inf?.stop();
      inf = new Informer(client, {
        resource,
        namespaces,
        labelSelector: sel.labelSelector,
        fieldSelector: sel.fieldSelector,
        silenceMs: this.opts.watchSilenceMs,
        logger: this.log.child({ cluster: client.host }),
        metrics: this.metrics,
      });
      this.remoteInformers.set(key, inf);
      if (this.started && !this.stopping) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  add(c: Controller): Controller {
    if (this.started) throw new Error('add controllers before start()');
    c.bind((s) => this.informer(s), this.log, this.metrics);
    this.controllers.push(c);
    return c;
  }

  /** An event recorder writing core/v1 Events as `component`. */
  events(component = this.fieldManager): EventRecorder {
    return new EventRecorder(this.client, component, this.log.child({ component }));
  }

  hasSynced(): boolean {
    for (const i of this.informers.values()) if (!i.hasSynced()) return false;
    return true;
  }

  /** Ready: caches synced and, with leader election, the leader is known. */
  ready(): boolean {
    if (!this.started || this.stopping || !this.hasSynced()) return false;
    return this.elector ? this.elector.isLeader() || this.elector.leaderKnown() : true;
  }

  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : this.controllersRunning;
  }

  /** Starts everything; resolves once caches synced (controllers may still wait for the lease). */
  async start(): Promise<void> {
    if (this.started) throw new Error('manager already started');
    this.started = true;
    const ep = { healthz: () => !this.stopping, readyz: () => this.ready(), metrics: this.metrics.registry };
    const health = this.opts.healthProbeBindAddress ?? '0';
    const metrics = this.opts.metricsBindAddress ?? '0';
    if (health === metrics) {
      const s = await EndpointServer.listen(health, ep);
      if (s) this.servers.push(s);
    } else {
      const h = await EndpointServer.listen(health, { healthz: ep.healthz, readyz: ep.readyz });
      const m = await EndpointServer.listen(metrics, { metrics: ep.metrics });
      for (const s of [h, m]) if (s) this.servers.push(s);
    }
    for (const i of this.informers.values()) i.start();
    for (const i of this.remoteInformers.values()) i.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    if (this.stopping) return;
    this.log.info('caches synced', { informers: this.informers.size });
    const le = this.opts.leaderElection;
    if (!le?.enabled) {
      this.startControllers();
      return;
    }
    this.elector = new LeaderElector(this.client, {
      namespace: le.namespace ?? 'default',
      name: le.name ?? 'capk-podnet',
      identity: this.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      releaseOnCancel: le.releaseOnCancel,
      logger: this.log,
      metrics: this.metrics,
    });
    this.elector.start({
      onStartedLeading: () => this.startControllers(),
      onStoppedLeading: () => {
        // At once: no new reconcile starts, in-flight ones see their signal aborted.
        for (const c of this.controllers) void c.stop({ drain: false });
        this.controllersRunning = false;
        this.settle.reject(new LeadershipLostError());
      },
      onNewLeader: (id) => this.log.info('leader observed', { leader: id }),
    });
  }

  /** Graceful: stop taking work, drain in-flight reconciles, release the lease, stop informers. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => undefined);
    this.stopping = true;
    await Promise.all(this.controllers.map((c) => c.stop({ drain: true })));
    this.controllersRunning = false;
    await this.elector?.stop();
    await Promise.all([...this.informers.values(), ...this.remoteInformers.values()].map((i) => i.stop()));
    await Promise.all(this.servers.map((s) => s.close()));
    this.infraClusters.close();
    this.client.close();
    this.settle.resolve();
  }

  /** Ports the endpoint servers listen on (for tests using port 0). */
  get endpointPorts(): number[] {
    return this.servers.map((s) => s.port);
  }

  private startControllers(): void {
    if (this.stopping || this.controllersRunning) return;
    this.controllersRunning = true;
    for (const c of this.controllers) void c.start();
  }
}
