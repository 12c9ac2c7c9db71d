// Typed errors. A failed transaction names the operation that failed (index, op, table, where) and
// carries the server's error and details, so callers can tell a constraint violation from a lost
// connection without parsing messages.
import type { Operation } from './ops.js';

export class OvsdbError extends Error {
  override name = 'OvsdbError';
}

/** No connection to a usable server (none reachable yet, or lost and not back within the wait). */
export class NotConnectedError extends OvsdbError {
  override name = 'NotConnectedError';
}

/** The connection dropped while a request was in flight: a transaction's outcome is unknown. */
export class ConnectionLostError extends OvsdbError {
  override name = 'ConnectionLostError';
  constructor(readonly method: string) {
    super(`connection lost while waiting for the reply to ${method}; its outcome is unknown`);
  }
}

/** The server answered a request with a JSON-RPC error. */
export class RpcError extends OvsdbError {
  override name = 'RpcError';
  constructor(
    readonly method: string,
    readonly error: unknown,
  ) {
    super(`${method}: ${typeof error === 'string' ? error : JSON.stringify(error)}`);
  }
}

/** The cache got an update it cannot apply (insert of a known row, modify of an unknown one). */
export class CacheInconsistentError extends OvsdbError {
  override name = 'CacheInconsistentError';
}

export interface ServerError {
  error: string;
  details?: string;
}

function describeOp(op: Operation): string {
  const table = 'table' in op ? ` on ${op.table}` : '';
  const where = 'where' in op && op.where.length ? ` where ${JSON.stringify(op.where)}` : '';
  return `${op.op}${table}${where}`;
}

/** One operation of a transaction failed; the transaction as a whole did nothing. */
export class OvsdbOperationError extends OvsdbError {
  override name = 'OvsdbOperationError';
  readonly error: string;
  readonly details: string | undefined;
  constructor(
    readonly index: number,
    readonly op: Operation,
    result: ServerError,
  ) {
    super(
      `operation ${index} (${describeOp(op)}) failed: ${result.error}${result.details ? `: ${result.details}` : ''}`,
    );
    this.error = result.error;
    this.details = result.details;
  }
  get table(): string | undefined {
    return 'table' in this.op ? this.op.table : undefined;
  }
}

/** Every operation succeeded but the commit did not (constraints, referential integrity). */
export class OvsdbCommitError extends OvsdbError {
  override name = 'OvsdbCommitError';
  readonly error: string;
  readonly details: string | undefined;
  constructor(result: ServerError) {
    super(`transaction commit failed: ${result.error}${result.details ? `: ${result.details}` : ''}`);
    this.error = result.error;
    this.details = result.details;
  }
}
