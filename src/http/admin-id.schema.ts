import { z } from 'zod';

/** As long as any id the protocol accepts (SEND's `to`, `clientMsgId`). */
export const MAX_ADMIN_ID_CHARS = 128;
const ID_PROBLEM = `must be a non-empty string of at most ${MAX_ADMIN_ID_CHARS} characters`;

/** A user id or message id in an admin request: the path's `:uid`, a body's `to`, `from`, … */
export function adminIdSchema() {
  return z.string({ error: ID_PROBLEM }).min(1, ID_PROBLEM).max(MAX_ADMIN_ID_CHARS, ID_PROBLEM);
}
