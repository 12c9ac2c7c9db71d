// Shapes of what ovsdb-server sends, checked at the edge with zod: a reply that does not fit is a
// protocol error that ends the session, never a half-applied update.
import { z } from 'zod';
import { OvsdbError } from './errors.js';

const columnValues = z.record(z.string(), z.unknown());
const rowUpdate2 = z.union([
  z.null(),
  z.looseObject({
    initial: columnValues.optional(),
    insert: columnValues.optional(),
    modify: columnValues.optional(),
    delete: z.null().optional(),
  }),
]);
export const tableUpdates2 = z.record(z.string(), z.record(z.string(), rowUpdate2));
export type TableUpdates2 = z.infer<typeof tableUpdates2>;

export const monitorSinceReply = z.tuple([z.boolean(), z.string(), tableUpdates2]);
export const update2Params = z.tuple([z.unknown(), tableUpdates2]);
export const update3Params = z.tuple([z.unknown(), z.string(), tableUpdates2]);

const operationResult = z.union([
  z.null(),
  z.looseObject({
    error: z.string().optional(),
    details: z.string().optional(),
    uuid: z.tuple([z.literal('uuid'), z.string()]).optional(),
    count: z.number().optional(),
    rows: z.array(columnValues).optional(),
  }),
]);
export const transactReply = z.array(operationResult);
export type WireOperationResult = z.infer<typeof operationResult>;

export const stringList = z.array(z.string());

export class ProtocolError extends OvsdbError {
  override name = 'ProtocolError';
}

/** Parses a server message by its expected shape; a mismatch names the method. */
export function parseReply<T>(schema: z.ZodType<T>, method: string, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
  throw new ProtocolError(`${method}: unexpected reply${where}: ${issue?.message ?? 'invalid'}`);
}
