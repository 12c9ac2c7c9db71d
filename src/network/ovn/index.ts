// The OVN northbound network driver: stable pod-network IPs for tenant VMs, beside OVN-Kubernetes.
export { OvnDriver, OvnSyncError } from './driver.js';
export type { DatapathObserver, OvnDriverStats } from './driver.js';
export { OVN_KUBERNETES_NAMES, arpProxyFormFor, defaultVmPortName, resolveConfig } from './config.js';
export type {
  ArpProxyMode,
  OvnDriverConfig,
  OvnDriverOptions,
  OvnTopologyNames,
  SyncTiming,
} from './config.js';
export { composeDhcpOptions, composeVm, placementNodes, validateSpec } from './compose.js';
export type { ComposeResult, DesiredVm, TopologyView } from './compose.js';
export { gatewayOps, topologyView, vmOps } from './diff.js';
export {
  GATEWAY_ARP_PROXY,
  GATEWAY_ORIGINAL_MAC,
  KIND,
  MACHINE,
  NEIGHBOUR,
  NODE,
  OWNER,
  ownedIds,
} from './ids.js';
