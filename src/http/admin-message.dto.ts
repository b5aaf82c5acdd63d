import { z } from 'zod';
import { adminIdSchema } from './admin-id.schema.js';

/** POST /admin/messages: a message stored and pushed exactly as a SEND from `from` would be. */
export const adminMessageSchema = z.strictObject({
  to: adminIdSchema(),
  from: adminIdSchema().default('system'),
  /** Makes the request idempotent: one (from, clientMsgId) is stored once. */
  clientMsgId: adminIdSchema().optional(),
  content: z
    .unknown()
    .refine((v) => v !== undefined, { error: 'must be present (any JSON value)' }),
});

export type AdminMessageDto = z.output<typeof adminMessageSchema>;
