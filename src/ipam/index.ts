// IP address management through Cluster API's IPAM contract, and the in-cluster pool provider.
export {
  addInClusterPoolProvider,
  RELEASE_FINALIZER,
  REQUESTED_ADDRESS_ANNOTATION,
  POOL_NAME_LABEL,
  Reasons as IpamReasons,
  type PoolProviderOptions,
} from './provider.js';
export {
  IPAddressClaims,
  IPAddresses,
  KubevirtClusters,
  InClusterPoolKind,
  isInClusterPool,
  type IPAddress,
  type IPAddressClaim,
  type PoolRef,
} from './resources.js';
export {
  clusterPool,
  parsePool,
  poolSize,
  freeAddresses,
  unusableReason,
  ipAddressObjectName,
  type Pool,
} from './pool.js';
