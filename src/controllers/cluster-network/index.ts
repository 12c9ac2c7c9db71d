export {
  addClusterNetworkController,
  CLUSTER_NETWORK_FINALIZER,
  type ClusterNetworkControllerOptions,
} from './controller.js';
export {
  CONTROL_PLANE_LABEL,
  ENDPOINT_SLICE_MANAGER,
  EndpointSlices,
  ExposureLabels,
  Services,
  type EndpointSlice,
  type Service,
} from './exposure.js';
