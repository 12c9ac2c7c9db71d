export type {
  NetworkDriver,
  VmNetworkSpec,
  VmNetworkObservation,
  Placement,
  MigrationPhase,
  ObjectRef,
} from './driver.js';
export { machineKey } from './driver.js';
