import { z } from 'zod';

const MAX_KICK_MESSAGE_CHARS = 256;

/** POST /admin/users/:uid/kick. A reason is a KICK code clients branch on: a short token. */
export const kickSchema = z.strictObject({
  reason: z
    .string({ error: 'must be a string' })
    .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, {
      error: 'must be 1-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit',
    })
    .optional(),
  message: z
    .string({ error: 'must be a string' })
    .max(MAX_KICK_MESSAGE_CHARS, `must be at most ${MAX_KICK_MESSAGE_CHARS} characters`)
    .optional(),
});

export type KickDto = z.output<typeof kickSchema>;
