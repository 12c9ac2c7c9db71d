// The controller runtime's public surface.
export { Manager, LeadershipLostError, type ManagerOptions } from './manager.js';
export {
  Controller,
  TerminalError,
  mapToControllerOwner,
  mapByLabels,
  mapInfrastructureRef,
  mapClusterToLabelled,
  generationChanged,
  generationOrMetadataChanged,
  type ControllerOptions,
  type Reconciler,
  type ReconcileContext,
  type Result,
  type MapFunc,
  type Source,
  type WatchSpec,
} from './controller.js';
export { Informer, type InformerEvent, type InformerOptions } from './informer.js';
export { WorkQueue, type BackoffOptions } from './queue.js';
export { RestClient, ApiError, isNotFound, isConflict, isGone, PatchType } from './rest.js';
export { PatchHelper, createMergePatch, mergeOwnedConditions } from './patch.js';
export { OwnWrites } from './own-writes.js';
export { CacheIndex } from './index-cache.js';
export * from './conditions.js';
export * from './capi.js';
export { LeaderElector, type LeaderElectionOptions } from './leader.js';
export { InfraClusters, type InfraCluster, type SecretRef } from './clusters.js';
export { EventRecorder, type EventType } from './events.js';
export { RuntimeMetrics } from './metrics.js';
export { createLogger, silentLogger, type Logger } from './log.js';
export * from './types.js';
export {
  loadConnection,
  parseKubeconfig,
  connectionFromKubeconfig,
  inClusterConnection,
  type KubeConnection,
} from './kubeconfig.js';
