import { WorkQueue, backoffDelay, type Clock } from './queue.js';

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.length;
  }
}

describe('WorkQueue', () => {
  test('de-duplicates keys that are waiting', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  test('a key is never handed out twice at once; an add while processing re-queues it on done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // held back while 'a' is in flight
    q.done(k!);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  test('a waiting get resolves on the next add', async () => {
    const q = new WorkQueue();
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
    expect(q.inFlight).toBe(1);
  });

  test('addAfter delays; the earliest pending delay wins', () => {
    const c = new FakeClock();
    const q = new WorkQueue({ clock: c });
    q.addAfter('a', 100);
    q.addAfter('a', 500); // later: ignored
    q.addAfter('a', 50); // earlier: replaces
    expect(c.pending).toBe(1);
    c.advance(49);
    expect(q.len()).toBe(0);
    c.advance(1);
    expect(q.len()).toBe(1);
    expect(q.delayed).toBe(0);
  });

  test('backoff doubles per failure from 5 ms up to the cap, and forget resets it', () => {
    const c = new FakeClock();
    const q = new WorkQueue({ clock: c, backoff: { baseMs: 5, maxMs: 100 } });
    const delays = [1, 2, 3, 4, 5, 6, 7].map(() => {
      const d = q.addRateLimited('k');
      c.advance(d); // let it fire so the next add is not merged into a pending one
      return d;
    });
    expect(delays).toEqual([5, 10, 20, 40, 80, 100, 100]);
    expect(q.numRequeues('k')).toBe(7);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
    expect(q.addRateLimited('k')).toBe(5);
  });

  test('backoffDelay defaults match controller-runtime (5 ms → 1000 s)', () => {
    expect(backoffDelay(0, { baseMs: 5, maxMs: 1_000_000 })).toBe(5);
    expect(backoffDelay(10, { baseMs: 5, maxMs: 1_000_000 })).toBe(5120);
    expect(backoffDelay(40, { baseMs: 5, maxMs: 1_000_000 })).toBe(1_000_000);
  });

  test('shutDown releases waiting getters and drops delayed keys', async () => {
    const c = new FakeClock();
    const q = new WorkQueue({ clock: c });
    const p = q.get();
    q.addAfter('late', 10);
    q.shutDown();
    expect(await p).toBeUndefined();
    expect(c.pending).toBe(0);
    q.add('after');
    expect(q.len()).toBe(0);
  });

  test('shutDownWithDrain waits for in-flight keys', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    let drained = false;
    const d = q.shutDownWithDrain().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(k!);
    await d;
    expect(drained).toBe(true);
  });

  test('observer sees depth and the wait between add and get', async () => {
    const c = new FakeClock();
    const latencies: number[] = [];
    const depths: number[] = [];
    const q = new WorkQueue({
      clock: c,
      observer: { latency: (ms) => latencies.push(ms), depth: (n) => depths.push(n) },
    });
    q.add('a');
    q.add('b');
    c.advance(7);
    await q.get();
    expect(latencies).toEqual([7]);
    expect(depths).toEqual([1, 2, 1]);
  });
});

describe('WorkQueue priority', () => {
  test('a priority key goes first, and overtakes its own ordinary entry without running twice', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('c');
    q.add('v', { priority: true });
    q.add('c', { priority: true }); // already waiting: moves ahead
    const order: string[] = [];
    while (q.len() > 0) {
      const k = await q.get();
      order.push(k!);
      q.done(k!);
      if (order.length > 10) break;
    }
    expect(order).toEqual(['v', 'c', 'a', 'b']);
  });

  test('a priority add while in flight runs right after done, ahead of others', async () => {
    const q = new WorkQueue();
    q.add('v');
    const k = await q.get();
    q.add('x');
    q.add('v', { priority: true });
    q.done(k!);
    expect(await q.get()).toBe('v');
  });
});
