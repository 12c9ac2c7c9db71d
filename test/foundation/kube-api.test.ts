// Proves the Kubernetes test stack is real: objects round-trip through etcd, and a CRD's
// OpenAPI schema is enforced by the API server with the offending field named.
import * as k8s from '@kubernetes/client-node';
import { createTestNamespace, testKubeConfig } from '../env/kube.js';
import { installCrds } from '../env/crds.js';

const group = 'foundation.test.capk-podnet.io';

function gadgetCrd(): k8s.V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `gadgets.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: {
                  type: 'object',
                  required: ['port'],
                  properties: {
                    port: { type: 'integer', minimum: 1, maximum: 65535 },
                    mode: { type: 'string', enum: ['Strict', 'Disabled'] } as k8s.V1JSONSchemaProps,
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}

describe('Kubernetes API (real kube-apiserver + etcd)', () => {
  const kc = testKubeConfig();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let ns: string;

  beforeAll(async () => {
    ns = await createTestNamespace(kc, 'foundation');
  });

  it('stores a Service and reads it back with a cluster IP from the service range', async () => {
    await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web', labels: { app: 'web' } },
        spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    const svc = await core.readNamespacedService({ name: 'web', namespace: ns });
    expect(svc.metadata?.labels).toEqual({ app: 'web' });
    expect(svc.spec?.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    // NodePorts are allocated by the API server itself, from 30000-32767.
    expect(svc.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);

    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain(ns);
  });

  it('rejects a second Service with the same name', async () => {
    await expect(
      core.createNamespacedService({
        namespace: ns,
        body: { metadata: { name: 'web' }, spec: { ports: [{ port: 81 }] } },
      }),
    ).rejects.toMatchObject({ code: 409 });
  });

  it('enforces a CRD schema and names the bad field', async () => {
    await installCrds(kc, [gadgetCrd()]);
    const objects = kc.makeApiClient(k8s.CustomObjectsApi);
    const create = (spec: object, name: string) =>
      objects.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns,
        plural: 'gadgets',
        body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name }, spec },
      });

    await expect(create({ port: 443, mode: 'Strict' }, 'good')).resolves.toMatchObject({
      spec: { port: 443 },
    });

    const rejection = async (spec: object, name: string) => {
      const err = await create(spec, name).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(k8s.ApiException);
      const status = JSON.parse(String((err as k8s.ApiException<string>).body)) as k8s.V1Status;
      expect(status.code).toBe(422);
      return status;
    };

    const port = await rejection({ port: 70000 }, 'bad-port');
    expect(port.details?.causes?.map((c) => c.field)).toEqual(['spec.port']);

    const mode = await rejection({ port: 1, mode: 'Loose' }, 'bad-mode');
    expect(mode.details?.causes).toEqual([
      expect.objectContaining({
        field: 'spec.mode',
        message: expect.stringContaining('Unsupported value: "Loose"'),
      }),
    ]);
  });
});
