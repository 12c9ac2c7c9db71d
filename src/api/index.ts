// Public surface of capk-podnet's API: the network schema (CRD source of truth), its runtime
// validation and defaults, cross-object checks, conditions, and the CRD guard with its backups.
export * from './network.js';
export * from './conditions.js';
export {
  checkPinnedIp,
  checkServiceCidrs,
  checkNodePorts,
  readClusterNetwork,
  readMachineNetwork,
  type NetworkRead,
  DEFAULT_NODE_PORT_RANGE,
  type Problem,
  type NodePortRange,
} from './validate.js';
export { DEFAULT_GATEWAY_IPV4, DEFAULT_GATEWAY_MAC } from './network-schema.js';
export {
  CAPK_CRDS,
  CAPK_GROUP,
  mergeNetworkSchema,
  networkSchemaDrift,
  type CapkKind,
  type WireCrd,
} from './crd-merge.js';
export {
  guardNetworkSchema,
  ensureNetworkSchema,
  inspectNetworkSchema,
  restoreFromBackups,
  isCapkCrdName,
  GUARD_FIELD_MANAGER,
  type SchemaState,
  type GuardResult,
  type GuardRun,
  type RestoreResult,
} from './crd-guard.js';
export { NETWORK_BACKUP_ANNOTATION, backupPatch, readBackup, type NetworkBackup } from './backup.js';
export { serviceCidrPolicy, SERVICE_CIDR_POLICY_NAME } from './admission-policy.js';
export { startCrdGuard, type CrdGuardLoop } from './crd-guard-loop.js';
