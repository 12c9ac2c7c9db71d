import { capkOriginalCrds } from '../../hack/crdgen/upstream.js';
import { mergeNetworkSchema, networkSchemaDrift } from './crd-merge.js';

test('merge adds exactly the network schema, idempotently, and drift sees each place', () => {
  for (const crd of capkOriginalCrds()) {
    const drift = networkSchemaDrift(crd);
    expect(drift.length).toBeGreaterThan(0);
    const merged = mergeNetworkSchema(crd);
    expect(networkSchemaDrift(merged)).toEqual([]);
    expect(mergeNetworkSchema(merged)).toEqual(merged);
    expect(crd).toEqual(capkOriginalCrds().find((c) => c.metadata.name === crd.metadata.name)); // input untouched
    // capk's own fields stay as they are.
    const props = (c: typeof crd) =>
      Object.keys(c.spec.versions[0]!.schema!.openAPIV3Schema!.properties!.spec!.properties!);
    expect(props(merged).filter((p) => p !== 'network')).toEqual(
      props(crd)
        .filter((p) => p !== 'network')
        .sort(),
    );
  }
});
