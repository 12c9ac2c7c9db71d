import { CacheIndex } from './index-cache.js';
import type { Informer, InformerHandler } from './informer.js';
import type { KubeObject } from './types.js';

const pod = (name: string, vmi: string, rv = '1'): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion: rv, labels: { vmi } },
});

function fakeInformer() {
  let handler!: InformerHandler;
  const inf = { addHandler: (h: InformerHandler) => (handler = h) } as unknown as Informer;
  return { inf, emit: (...a: Parameters<InformerHandler>) => handler(...a) };
}

describe('cache index', () => {
  it('follows adds, updates that move an object between values, and deletes', () => {
    const { inf, emit } = fakeInformer();
    const idx = new CacheIndex(inf, (o) => [`${o.metadata.namespace}/${o.metadata.labels!.vmi}`]);
    const a = pod('a', 'vm1');
    emit({ type: 'add', object: a });
    emit({ type: 'add', object: pod('b', 'vm1') });
    emit({ type: 'add', object: pod('c', 'vm2') });
    expect(idx.get('ns/vm1').map((p) => p.metadata.name)).toEqual(['a', 'b']);

    const moved = pod('a', 'vm2', '2');
    emit({ type: 'update', object: moved, old: a });
    expect(idx.get('ns/vm1').map((p) => p.metadata.name)).toEqual(['b']);
    expect(idx.get('ns/vm2')).toEqual([pod('c', 'vm2'), moved]);

    emit({ type: 'delete', object: moved, old: moved });
    expect(idx.get('ns/vm2').map((p) => p.metadata.name)).toEqual(['c']);
    expect(idx.get('ns/none')).toEqual([]);
  });
});
