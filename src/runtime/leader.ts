// Leader election on a coordination.k8s.io/v1 Lease, the client-go way: try to acquire every
// retryPeriod; a lease held by another is respected until leaseDuration has passed since this
// process last saw it change (local clock, so clock skew between replicas does not matter); the
// leader renews every retryPeriod and gives up when it could not renew for renewDeadline.
// Optimistic concurrency (resourceVersion on update) makes two replicas never both win a round.
import type { Logger } from './log.js';
import { errorMessage, silentLogger } from './log.js';
import type { RuntimeMetrics } from './metrics.js';
import { isConflict, isNotFound, type RestClient } from './rest.js';
import { Leases, type KubeObject } from './types.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** client-go defaults: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** On stop(), hand the lease back so another replica takes over at once. */
  releaseOnCancel?: boolean;
  logger?: Logger;
  metrics?: RuntimeMetrics;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  /** Leadership lost (renew deadline passed) — not called after a voluntary stop(). */
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
}

/** metav1.MicroTime wants exactly six fractional digits. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private observed?: { holder: string; renewTime: string; at: number };
  private leading = false;
  private stopped = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  /** Holder last seen on the lease ('' when free). */
  observedHolder?: string;

  constructor(
    private readonly client: RestClient,
    readonly opts: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs)
      throw new Error('leaseDuration must exceed renewDeadline');
    this.log = (opts.logger ?? silentLogger()).child({ lease: `${opts.namespace}/${opts.name}` });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** True once this process has seen who leads (itself or another). */
  leaderKnown(): boolean {
    return this.observedHolder !== undefined && this.observedHolder !== '';
  }

  /** Starts campaigning in the background. */
  start(cb: LeaderCallbacks): void {
    if (this.loop) return;
    this.setLeading(false);
    this.loop = this.run(cb);
  }

  /** Stops campaigning; releases the lease if held and releaseOnCancel. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading && (this.opts.releaseOnCancel ?? true)) await this.release();
    this.setLeading(false);
  }

  private async run(cb: LeaderCallbacks): Promise<void> {
    // Acquire.
    while (!this.stopped && !(await this.tryAcquireOrRenew(cb)))
      await this.pause(this.retryPeriodMs * (1 + Math.random() * 0.2));
    if (this.stopped) return;
    this.setLeading(true);
    this.log.info('acquired lease', { identity: this.opts.identity });
    cb.onStartedLeading();
    // Renew until the deadline passes without a successful renewal.
    let lastRenew = Date.now();
    while (!this.stopped) {
      await this.pause(this.retryPeriodMs);
      if (this.stopped) return;
      const left = this.renewDeadlineMs - (Date.now() - lastRenew);
      const ok = await withTimeout(this.tryAcquireOrRenew(cb), Math.max(left, 1)).catch(() => false);
      if (ok) {
        lastRenew = Date.now();
        continue;
      }
      if (Date.now() - lastRenew >= this.renewDeadlineMs) {
        this.setLeading(false);
        this.log.error('lost lease: could not renew within the deadline', {
          renewDeadlineMs: this.renewDeadlineMs,
        });
        cb.onStoppedLeading();
        return;
      }
    }
  }

  private async tryAcquireOrRenew(cb: LeaderCallbacks): Promise<boolean> {
    const now = new Date();
    const me = this.opts.identity;
    const desired: LeaseSpec = {
      holderIdentity: me,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: microTime(now),
    };
    try {
      const lease = await this.client.tryGet<Lease>(Leases, this.opts.name, this.opts.namespace);
      if (!lease) {
        await this.client.create<Lease>(Leases, {
          metadata: { name: this.opts.name, namespace: this.opts.namespace },
          spec: { ...desired, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        this.observe(me, desired.renewTime!, cb);
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      this.observe(holder, spec.renewTime ?? '', cb);
      const heldByOther = holder !== '' && holder !== me;
      if (heldByOther && Date.now() - this.observed!.at < this.leaseDurationMs) return false;
      const taking = holder !== me;
      lease.spec = {
        ...spec,
        ...desired,
        acquireTime: taking ? microTime(now) : (spec.acquireTime ?? microTime(now)),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (taking && holder !== '' ? 1 : 0),
      };
      await this.client.update<Lease>(Leases, lease);
      this.observe(me, desired.renewTime!, cb);
      return true;
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e))
        this.log.warn('lease update failed', { error: errorMessage(e), leading: this.leading });
      return false;
    }
  }

  private observe(holder: string, renewTime: string, cb: LeaderCallbacks): void {
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      if (holder) cb.onNewLeader?.(holder);
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.client.tryGet<Lease>(Leases, this.opts.name, this.opts.namespace);
      if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() };
      await this.client.update(Leases, lease);
      this.log.info('released lease');
    } catch (e) {
      this.log.warn('lease release failed', { error: errorMessage(e) });
    }
  }

  private setLeading(v: boolean): void {
    this.leading = v;
    this.opts.metrics?.leader.set({ name: this.opts.name }, v ? 1 : 0);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
