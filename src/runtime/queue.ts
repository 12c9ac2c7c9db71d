// A keyed, level-based work queue in the manner of client-go's workqueue as controller-runtime uses it:
// a key is queued at most once (dirty set), never handed to two workers at once (processing set;
// a key added while processing is re-queued when done), can be added after a delay, and backs off
// exponentially per key on errors until forget() is called.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface BackoffOptions {
  /** First retry delay; controller-runtime uses 5 ms. */
  baseMs: number;
  /** Cap on the per-key delay; controller-runtime uses 1000 s. */
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 5, maxMs: 1_000_000 };

/** base · 2^failures, capped. */
export function backoffDelay(failures: number, o: BackoffOptions): number {
  const d = o.baseMs * Math.pow(2, Math.min(failures, 62));
  return Math.min(d, o.maxMs);
}

export interface QueueObserver {
  /** A key became ready (queued); depth after. */
  depth?(n: number): void;
  /** A key waited ms between becoming ready and being taken by a worker. */
  latency?(ms: number): void;
  retry?(): void;
}

export interface WorkQueueOptions {
  backoff?: BackoffOptions;
  clock?: Clock;
  observer?: QueueObserver;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private head = 0;
  /** Keys that jump the queue (e.g. a VM in the middle of a live migration). */
  private readonly urgent: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly readyAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly waiting = new Map<string, { at: number; handle: unknown }>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private drainWaiters: (() => void)[] = [];
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly observer: QueueObserver;

  constructor(opts: WorkQueueOptions = {}) {
    this.backoff = opts.backoff ?? defaultBackoff;
    this.clock = opts.clock ?? realClock;
    this.observer = opts.observer ?? {};
  }

  /** Keys ready to be taken (not counting delayed or in-flight ones). */
  len(): number {
    return this.queue.length - this.head + this.urgent.length;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  get delayed(): number {
    return this.waiting.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Queues the key unless it is already waiting. With priority it goes ahead of ordinary keys (and
   * a waiting ordinary entry is overtaken); a key in flight still waits for its done().
   */
  add(key: string, opts: { priority?: boolean } = {}): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) {
      if (opts.priority && !this.processing.has(key) && !this.urgent.includes(key)) {
        // Move it from the ordinary line (O(n), but priority adds are rare).
        const i = this.queue.indexOf(key, this.head);
        if (i >= 0) this.queue.splice(i, 1);
        this.urgent.push(key);
      }
      return;
    }
    this.dirty.add(key);
    this.readyAt.set(key, this.clock.now());
    if (this.processing.has(key)) {
      if (opts.priority) this.pendingPriority.add(key);
      return;
    }
    this.push(key, opts.priority);
  }

  private readonly pendingPriority = new Set<string>();

  /** Adds once ms have passed; a pending earlier add for the key wins over a later one. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const w = this.waiting.get(key);
    if (w && w.at <= at) return;
    if (w) this.clock.clearTimeout(w.handle);
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, handle });
  }

  /** Adds after the key's next backoff delay; returns that delay. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = backoffDelay(n, this.backoff);
    this.observer.retry?.();
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the key's backoff (after a success, a terminal error or a requeueAfter). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key; waits for one. undefined once shut down. */
  get(): Promise<string | undefined> {
    const key = this.take();
    if (key !== undefined || this.shuttingDown) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks the key's processing finished; a key added meanwhile becomes ready again. */
  done(key: string): void {
    this.processing.delete(key);
    const priority = this.pendingPriority.delete(key);
    if (this.dirty.has(key)) this.push(key, priority);
    if (this.processing.size === 0) for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Stops handing out keys; delayed adds are dropped; waiting getters get undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    this.pendingPriority.clear();
    for (const w of this.waiting.values()) this.clock.clearTimeout(w.handle);
    this.waiting.clear();
    for (const g of this.getters.splice(0)) g(undefined);
  }

  /** shutDown, then wait until every in-flight key is done. */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  private push(key: string, priority = false): void {
    const getter = this.getters.shift();
    if (getter) {
      this.hand(key);
      getter(key);
      return;
    }
    (priority ? this.urgent : this.queue).push(key);
    this.observer.depth?.(this.len());
  }

  private take(): string | undefined {
    if (this.shuttingDown) return undefined;
    let key = this.urgent.shift();
    if (key === undefined) {
      if (this.head >= this.queue.length) return undefined;
      key = this.queue[this.head++]!;
      // Compact now and then so the array does not grow without bound.
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
    }
    this.hand(key);
    this.observer.depth?.(this.len());
    return key;
  }

  private hand(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const at = this.readyAt.get(key);
    this.readyAt.delete(key);
    if (at !== undefined) this.observer.latency?.(this.clock.now() - at);
  }
}
