import type { Informer } from './informer.js';
import { OwnWrites } from './own-writes.js';
import type { RestClient } from './rest.js';
import type { KubeObject, ObjectKey, ResourceRef } from './types.js';

const ref: ResourceRef = { group: 'g', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true };
const req = { namespace: 'ns', name: 'a' };
const at = (rv: string): KubeObject => ({ metadata: { name: 'a', namespace: 'ns', resourceVersion: rv } });

function setup(cached: KubeObject) {
  const cache = { get: () => cached } as unknown as Informer<KubeObject>;
  const live: string[] = [];
  const client = {
    tryGet: async () => {
      live.push('GET');
      return at('live');
    },
  } as unknown as RestClient;
  const own = new OwnWrites<KubeObject>(cache, client, ref);
  const requeued: ObjectKey[] = [];
  own.requeue = (k) => requeued.push(k);
  return { own, requeued, live };
}

/** A write the test finishes by hand, producing the given versions in order. */
function pending(own: OwnWrites<KubeObject>, base: string, rvs: string[]) {
  const steps: string[] = [];
  let finish!: () => void;
  const done = own.write(req, base, steps, async () => {
    await new Promise<void>((r) => (finish = r));
    steps.push(...rvs);
    return at(rvs.at(-1)!);
  });
  return { done, finish: () => finish() };
}

describe('own writes', () => {
  it('reads the last write while the cache shows an older version, without a round trip', async () => {
    const { own, live } = setup(at('1'));
    own.wrote(req, '1', ['2', '3'], at('3'));
    expect((await own.current(req))?.metadata.resourceVersion).toBe('3');
    expect(live).toEqual([]);
  });

  it('reads live when the cache shows a version nobody told it about', async () => {
    const { own, live } = setup(at('9'));
    own.wrote(req, '1', ['2'], at('2'));
    expect((await own.current(req))?.metadata.resourceVersion).toBe('live');
    expect(live).toEqual(['GET']);
  });

  it('drops its echoes, even one that beats the write’s response', async () => {
    const { own, requeued } = setup(at('1'));
    const w = pending(own, '1', ['2', '3']);
    // The watch delivers both versions before the response arrives.
    expect(own.admit({ type: 'update', object: at('2') })).toBe(false);
    expect(own.admit({ type: 'update', object: at('3') })).toBe(false);
    w.finish();
    await w.done;
    expect(requeued).toEqual([]);
    expect(own.admit({ type: 'update', object: at('3') })).toBe(false);
  });

  it('hands on, once the write ends, an update held during it that was someone else’s', async () => {
    const { own, requeued } = setup(at('1'));
    const w = pending(own, '1', ['3']);
    expect(own.admit({ type: 'update', object: at('2') })).toBe(false);
    w.finish();
    await w.done;
    expect(requeued).toEqual([{ namespace: 'ns', name: 'a' }]);
    // Outside a write, others' updates, adds, deletes and resyncs pass.
    expect(own.admit({ type: 'update', object: at('4') })).toBe(true);
    expect(own.admit({ type: 'add', object: at('5') })).toBe(true);
    expect(own.admit({ type: 'update', object: at('3'), resync: true })).toBe(true);
  });

  it('hands on what it held when the write fails', async () => {
    const { own, requeued } = setup(at('1'));
    const steps: string[] = [];
    let fail!: (e: Error) => void;
    const done = own.write(req, '1', steps, () => new Promise((_, reject) => (fail = reject)));
    expect(own.admit({ type: 'update', object: at('2') })).toBe(false);
    fail(new Error('conflict'));
    await expect(done).rejects.toThrow('conflict');
    expect(requeued).toHaveLength(1);
  });
});
