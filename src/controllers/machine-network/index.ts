export {
  addMachineNetworkController,
  MACHINE_NETWORK_FINALIZER,
  type MachineNetworkControllerOptions,
} from './controller.js';
export { macForIPv4, type InfraDefaults } from './desired.js';
