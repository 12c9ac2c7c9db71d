// The REST client's delete against the real API server: with a uid it removes only that object,
// never a newer one that took the same name meanwhile.
import { RestClient, Secrets, type KubeObject } from '../../src/runtime/index.js';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';

const kc = testKubeConfig();
const client = new RestClient(kc);
afterAll(() => client.close());

describe('RestClient.delete (real API server)', () => {
  it('deletes by uid only the object it names, and reports a gone one', async () => {
    const ns = await createTestNamespace(kc, 'rest-delete');
    const old = await client.create<KubeObject>(Secrets, { metadata: { name: 's', namespace: ns } });
    expect(await client.delete(Secrets, 's', ns, { uid: old.metadata.uid! })).toBe(true);
    expect(await client.tryGet(Secrets, 's', ns)).toBeUndefined();

    // The name taken again: a delete aimed at the old object leaves the new one.
    const newer = await client.create<KubeObject>(Secrets, { metadata: { name: 's', namespace: ns } });
    expect(await client.delete(Secrets, 's', ns, { uid: old.metadata.uid! })).toBe(false);
    expect((await client.tryGet<KubeObject>(Secrets, 's', ns))?.metadata.uid).toBe(newer.metadata.uid);

    expect(await client.delete(Secrets, 's', ns)).toBe(true);
    expect(await client.delete(Secrets, 's', ns)).toBe(false);
  });
});
