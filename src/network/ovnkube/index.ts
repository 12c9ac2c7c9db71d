// The OVN-Kubernetes network driver: annotations only, for infra clusters whose OVN-Kubernetes
// carries KubeVirt live migration itself.
export {
  OvnKubeDriver,
  OVN_KUBERNETES_DEFAULT_NETWORK,
  type OvnKubeDriverOptions,
  type OvnKubeDriverStats,
  type OvnKubeNetwork,
} from './driver.js';
export { activePod, livePodsOf, observeVm } from './observe.js';
export {
  DEFAULT_NETWORK_ANNOTATION,
  DEFAULT_NETWORK_KEY,
  POD_NETWORKS_ANNOTATION,
  defaultNetworkValue,
  entryIps,
  parseDefaultNetwork,
  parsePodNetworks,
  planRemoval,
  planTemplate,
  primaryEntry,
  selectionMatches,
  type AddressRequest,
  type DefaultNetworkRef,
  type PodNetworkEntry,
  type PodNetworks,
  type SelectionElement,
  type TemplatePlan,
} from './annotations.js';
