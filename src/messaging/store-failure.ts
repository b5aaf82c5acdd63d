import { Logger } from '@nestjs/common';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/** JavaScript's own error types: a bug in longlink, answered `internal-error`, not an outage. */
const PROGRAMMING_ERRORS = [
  TypeError,
  RangeError,
  ReferenceError,
  SyntaxError,
  EvalError,
  URIError,
];

const logger = new Logger('MessageStore');

/**
 * Whether an error thrown by a MessageStore call means the store failed (PostgreSQL refused,
 * reset, timed out, shut down, out of connections; SQLite busy, disk full or I/O error):
 * anything but a LonglinkException (already a protocol answer) and JavaScript's own error
 * types (programming errors). Such a request may succeed if tried again later.
 */
export function isStoreFailure(err: unknown): boolean {
  if (err instanceof LonglinkException) return false;
  return !PROGRAMMING_ERRORS.some((type) => err instanceof type);
}

/**
 * What a request whose store call rejected with `err` is answered: a store failure becomes
 * ERROR `store-unavailable` (the cause is logged here, never sent); anything else passes
 * through unchanged (a LonglinkException keeps its code, a bug stays `internal-error`).
 */
export function toStoreUnavailable(err: unknown, what: string): unknown {
  if (!isStoreFailure(err)) return err;
  logger.warn(`${what} failed, answered store-unavailable: ${describeFailure(err)}`);
  return new LonglinkException(
    ErrorCode.StoreUnavailable,
    'the message store is unavailable; retry later',
  );
}

/** One line about a failure: its message, else its code (Node's AggregateError has no message). */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (err.message !== '') return err.message;
    if (typeof code === 'string') return code;
    if (err instanceof AggregateError && err.errors.length > 0)
      return describeFailure(err.errors[0]);
    return err.name;
  }
  return String(err);
}
