// A secondary index over an informer's cache (client-go's Indexer): objects by a value computed
// from each, kept current by the informer's events, so that "the pods of this VMI" is a lookup
// rather than a scan of every cached pod on each reconcile.
import type { Informer, InformerEvent } from './informer.js';
import { keyOf, type KubeObject } from './types.js';

export class CacheIndex<T extends KubeObject> {
  private readonly byValue = new Map<string, Map<string, T>>();

  constructor(
    informer: Informer<T>,
    private readonly valuesOf: (o: T) => string[],
  ) {
    informer.addHandler((e) => this.observe(e));
  }

  /** Cached objects indexed under `value`. */
  get(value: string): T[] {
    return [...(this.byValue.get(value)?.values() ?? [])];
  }

  private observe(e: InformerEvent<T>): void {
    if (e.old) this.remove(e.old);
    if (e.type === 'delete') this.remove(e.object);
    else
      for (const v of this.valuesOf(e.object)) {
        let m = this.byValue.get(v);
        if (!m) this.byValue.set(v, (m = new Map()));
        m.set(keyOf(e.object), e.object);
      }
  }

  private remove(o: T): void {
    for (const v of this.valuesOf(o)) {
      const m = this.byValue.get(v);
      m?.delete(keyOf(o));
      if (m?.size === 0) this.byValue.delete(v);
    }
  }
}
