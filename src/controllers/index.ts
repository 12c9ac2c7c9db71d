// Where the project's controllers join the manager. Each controller module adds itself here:
//   manager.add(new Controller({ name, for, owns, watches, reconcile, concurrency: config.concurrency }))
import type { Config } from '../config.js';
import type { Manager } from '../runtime/index.js';

export type RegisterControllers = (manager: Manager, config: Config) => void | Promise<void>;

export const registerControllers: RegisterControllers = async (_manager, _config) => {
  // No controllers yet: the cluster and machine network controllers and the IP pool provider go here.
};
