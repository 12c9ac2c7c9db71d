// Read your own writes over an informer cache. After a reconciler wrote an object, the watch event
// of that write may not have reached the cache when the next reconcile of the key starts, and a
// decision taken on the older copy would undo the write (or repeat its Events, or allocate twice).
// The object the last write returned is then the freshest known copy: used as long as the cache
// still shows a version from before or during that write (a cache merely behind), with no round
// trip. Any other version means someone else wrote meanwhile: read from the API server. The entry
// goes once the cache shows the last write.
import type { Informer } from './informer.js';
import type { RestClient } from './rest.js';
import { keyOf, type KubeObject, type ObjectKey, type ResourceRef } from './types.js';

export class OwnWrites<T extends KubeObject> {
  private readonly written = new Map<string, { object: T; before: Set<string> }>();

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
   * Notes a write: `base` the version the reconcile started from, `steps` the versions each of
   * its writes produced in order, the last one being what `latest` holds.
   */
  wrote(req: ObjectKey, base: string | undefined, steps: string[], latest: T | undefined): void {
    const rv = latest?.metadata.resourceVersion;
    if (!latest || !rv) return;
    const key = keyOf(req);
    // Versions the cache may still show that are older than `latest`: the one the reconcile
    // started from, its own intermediate writes, and older ones of ours.
    const before = new Set([...(this.written.get(key)?.before ?? []), ...steps]);
    if (base) before.add(base);
    before.delete(rv);
    this.written.set(key, { object: latest, before });
  }
}
