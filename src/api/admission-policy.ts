// "The node-IP pool must not overlap the service CIDR, when known": a CRD rule sees one object
// only, but a ValidatingAdmissionPolicy can take the cluster's ServiceCIDR object (networking.k8s.io
// /v1, GA in 1.33; the API server keeps one named `kubernetes` for --service-cluster-ip-range) as
// its parameter. It applies when the infra cluster is the management cluster (no
// infraClusterSecretRef); otherwise the controller checks with validate.ts against the infra
// cluster's ServiceCIDRs. Without the ServiceCIDR object the policy allows (not known).
import { CAPK_CRDS, CAPK_GROUP } from './crd-merge.js';

export const SERVICE_CIDR_POLICY_NAME = 'capk-podnet-pool-outside-service-cidr';

/** The policy and its binding, ready to apply. `namespaceSelector` narrows it (tests). */
export function serviceCidrPolicy(
  opts: { namespaceSelector?: { matchLabels: Record<string, string> } } = {},
): {
  policy: Record<string, unknown>;
  binding: Record<string, unknown>;
} {
  // The spec that holds network: the object's own, or a KubevirtClusterTemplate's template spec.
  const spec = "(object.kind == 'KubevirtClusterTemplate' ? object.spec.template.spec : object.spec)";
  const overlaps = 'cidr(p).containsIP(cidr(s).ip()) || cidr(s).containsIP(cidr(p).ip())';
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: SERVICE_CIDR_POLICY_NAME },
    spec: {
      failurePolicy: 'Fail',
      paramKind: { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR' },
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: [CAPK_GROUP],
            apiVersions: ['v1alpha1'],
            operations: ['CREATE', 'UPDATE'],
            resources: [CAPK_CRDS.KubevirtCluster.plural, CAPK_CRDS.KubevirtClusterTemplate.plural],
          },
        ],
      },
      variables: [
        { name: 'spec', expression: `has(object.spec) ? ${spec} : {}` },
        {
          name: 'field',
          expression:
            "object.kind == 'KubevirtClusterTemplate' ? 'spec.template.spec.network.ipam.cidrs' : 'spec.network.ipam.cidrs'",
        },
        {
          name: 'pools',
          expression:
            '!has(variables.spec.infraClusterSecretRef) && has(variables.spec.network) && has(variables.spec.network.ipam) && has(variables.spec.network.ipam.cidrs) ? variables.spec.network.ipam.cidrs.filter(p, isCIDR(p)) : []',
        },
        {
          name: 'overlapping',
          expression: `variables.pools.filter(p, params.spec.cidrs.exists(s, ${overlaps}))`,
        },
      ],
      validations: [
        {
          expression: 'size(variables.overlapping) == 0',
          messageExpression:
            "variables.field + ': ' + variables.overlapping.join(', ') + ' overlaps the service CIDR ' + params.spec.cidrs.join(', ') + ' (ServiceCIDR ' + params.metadata.name + ')'",
          reason: 'Invalid',
        },
      ],
    },
  };
  const binding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: SERVICE_CIDR_POLICY_NAME },
    spec: {
      policyName: SERVICE_CIDR_POLICY_NAME,
      validationActions: ['Deny'],
      paramRef: { name: 'kubernetes', parameterNotFoundAction: 'Allow' },
      ...(opts.namespaceSelector && { matchResources: { namespaceSelector: opts.namespaceSelector } }),
    },
  };
  return { policy, binding };
}
