// KubeVirt simulator for tests, the datapath harness and the demo (not shipped in the controller).
export {
  KubevirtSimulator,
  defaultTiming,
  type DrainResult,
  type MigrationContext,
  type MigrationFault,
  type PodNetwork,
  type SimulatorHooks,
  type SimulatorOptions,
  type SimulatorTiming,
} from './simulator.js';
export { Finalizers, Keys, goTimeString, type GuestNetworkInfo } from './model.js';
export type * from './types.js';
