// Read your own writes over an informer cache, and know their echoes.
//
// After a reconciler wrote an object, the watch event of that write may not have reached the cache
// when the next reconcile of the key starts, and a decision taken on the older copy would undo the
// write (or repeat its Events, or allocate twice). The object the last write returned is then the
// freshest known copy: used as long as the cache still shows a version from before or during that
// write (a cache merely behind), with no round trip. Any other version means someone else wrote
// meanwhile: read from the API server. The entry goes once the cache shows the last write.
//
// The watch event of a version this process wrote (its echo) brings nothing the writing reconcile
// did not already see; a controller drops it with `admit` as its predicate (controller-runtime's
// GenerationChangedPredicate drops echoes more broadly, with any status-only change). An event that
// arrives while a write of its object is in flight may be that write's echo (the watch can beat
// the response): it is held and, if the write turns out to have produced another version, handed
// to `requeue` once the write ends.
import type { InformerEvent } from './informer.js';
import type { Informer } from './informer.js';
import type { RestClient } from './rest.js';
import { keyOf, parseKey, type KubeObject, type ObjectKey, type ResourceRef } from './types.js';

interface Written<T> {
  object: T;
  /** Versions older than `object` the cache may still show. */
  before: Set<string>;
  /** Versions our writes produced. */
  ours: Set<string>;
}

export class OwnWrites<T extends KubeObject> {
  private readonly written = new Map<string, Written<T>>();
  /** Writes in flight by key, and the versions whose events arrived meanwhile. */
  private readonly inFlight = new Map<string, { writes: number; held: Set<string> }>();
  /** Where a held event that was no echo goes (the controller's queue). */
  requeue: (key: ObjectKey) => void = () => undefined;

  constructor(
    private readonly cache: Informer<T>,
    private readonly client: RestClient,
    private readonly resource: ResourceRef,
  ) {}

  /** The freshest copy known: the cache's, our last write's, or (someone else wrote) the server's. */
  async current(req: ObjectKey): Promise<T | undefined> {
    const cached = this.cache.get(req);
    const key = keyOf(req);
    const mine = this.written.get(key);
    const rv = cached?.metadata.resourceVersion;
    if (!cached || !mine || rv === mine.object.metadata.resourceVersion) {
      this.written.delete(key);
      return cached;
    }
    if (rv !== undefined && mine.before.has(rv)) return mine.object;
    const live = await this.client.tryGet<T>(this.resource, req.name, req.namespace);
    if (!live || live.metadata.resourceVersion === rv) this.written.delete(key);
    return live;
  }

  /**
   * Runs one write of the object (or several in a row: `steps` collects the versions each
   * produced, the last one being what the result holds) and notes it.
   */
  async write(
    req: ObjectKey,
    base: string | undefined,
    steps: string[],
    fn: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const key = keyOf(req);
    const flight = this.inFlight.get(key) ?? { writes: 0, held: new Set<string>() };
    flight.writes++;
    this.inFlight.set(key, flight);
    let latest: T | undefined;
    try {
      latest = await fn();
      this.wrote(req, base, steps, latest);
      return latest;
    } finally {
      if (--flight.writes === 0) {
        this.inFlight.delete(key);
        const ours = this.written.get(key)?.ours;
        for (const rv of flight.held) {
          if (ours?.has(rv)) continue;
          this.requeue(parseKey(key));
          break;
        }
      }
    }
  }

  /** Notes a write done outside write(): as there, `base`, then the versions produced in order. */
  wrote(req: ObjectKey, base: string | undefined, steps: string[], latest: T | undefined): void {
    const rv = latest?.metadata.resourceVersion;
    if (!latest || !rv) return;
    const key = keyOf(req);
    // Versions the cache may still show that are older than `latest`: the one the reconcile
    // started from, its own intermediate writes, and older ones of ours.
    const prev = this.written.get(key);
    const before = new Set([...(prev?.before ?? []), ...steps]);
    if (base) before.add(base);
    before.delete(rv);
    this.written.set(key, { object: latest, before, ours: new Set([...(prev?.ours ?? []), ...steps, rv]) });
  }

  /** True for the watch event of a version this process wrote. */
  isEcho(o: KubeObject): boolean {
    const rv = o.metadata.resourceVersion;
    return rv !== undefined && (this.written.get(keyOf(o))?.ours.has(rv) ?? false);
  }

  /** A predicate: false for our echoes, and (held until the write ends) for updates during a write. */
  admit = (e: InformerEvent): boolean => {
    if (e.type !== 'update' || e.resync) return true;
    if (this.isEcho(e.object)) return false;
    const flight = this.inFlight.get(keyOf(e.object));
    const rv = e.object.metadata.resourceVersion;
    if (!flight || rv === undefined) return true;
    flight.held.add(rv);
    return false;
  };
}
