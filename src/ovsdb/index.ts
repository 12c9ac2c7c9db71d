// OVSDB client (RFC 7047 plus ovsdb-server's monitor_cond, monitor_cond_since, update2/update3).
// Build operations with `client.ops`, send them with `client.transact`, read from `client.cache`.
export { OvsdbClient, insertedUuids } from './client.js';
export type {
  Logger,
  MonitorConditions,
  OperationResult,
  OvsdbClientEvents,
  OvsdbClientOptions,
  Resync,
} from './client.js';
export { DatabaseCache } from './cache.js';
export type { CacheIndexes, RowChange, RowIndex } from './cache.js';
export { OpBuilder, byUuid } from './ops.js';
export type {
  Condition,
  ConditionFunction,
  DatabaseModel,
  Mutation,
  Mutator,
  NewRow,
  Operation,
  TableName,
  WaitOptions,
} from './ops.js';
export {
  CacheInconsistentError,
  ConnectionLostError,
  NotConnectedError,
  OvsdbCommitError,
  OvsdbError,
  OvsdbOperationError,
  RpcError,
} from './errors.js';
export { ProtocolError } from './wire.js';
export { OvsdbDataError, isUuid, isNamedUuid, ZERO_UUID } from './data.js';
export type { Value } from './data.js';
export { parseSchema } from './schema.js';
export type { Atom, ColumnType, DatabaseSchema, TableSchema } from './schema.js';
export { parseRemote, parseRemotes } from './transport.js';
export type { Remote, TlsOptions } from './transport.js';
export * as nb from './generated/ovn-nb.js';
export * as sb from './generated/ovn-sb.js';
