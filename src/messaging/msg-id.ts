import { randomBytes } from 'node:crypto';

/**
 * Message ids: a random prefix drawn once per process (96 bits, so two
 * processes, or one before and after a restart, never share one) and a counter.
 * As unique as a random UUID and far cheaper to make: one string per message
 * instead of a formatted UUID, on every SEND's path.
 */
export class MsgIdGenerator {
  private readonly prefix = `${randomBytes(12).toString('base64url')}-`;
  private counter = 0;

  next(): string {
    return this.prefix + (++this.counter).toString(36);
  }
}
