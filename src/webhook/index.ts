export {
  WebhookServer,
  type AdmissionHandler,
  type AdmissionRequest,
  type AdmissionDecision,
} from './server.js';
export {
  virtualMachineMutator,
  machineMacSource,
  machineMac,
  CapkMachineLabels,
  VM_MUTATE_PATH,
} from './vm-mutator.js';
export { shapeVirtualMachine, isShaped, VmShapeError, type JsonPatchOp } from './shape-vm.js';
