// A keyed work queue in the controller-runtime manner: a key is never handled twice at once,
// events arriving meanwhile collapse into one more run, errors retry with per-key backoff.
export class KeyedQueue {
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inflight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly handle: (key: string) => Promise<void>,
    private readonly onError: (key: string, err: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.running.add(key);
    const p = this.run(key).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  private async run(key: string): Promise<void> {
    try {
      for (;;) {
        this.dirty.delete(key);
        try {
          await this.handle(key);
          this.failures.delete(key);
        } catch (err) {
          if (this.stopped) return;
          const n = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, n);
          this.onError(key, err);
          this.addAfter(key, Math.min(5 * 2 ** n, 2_000));
        }
        if (this.stopped || !this.dirty.has(key)) return;
      }
    } finally {
      this.running.delete(key);
    }
  }

  /** Stops taking work and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.inflight]);
  }
}
