import { ErrorCode } from './error-codes.js';
import { ErrorBody } from './longlink.exception.js';

/** Nest's message when a guard returns false. */
const FORBIDDEN_MESSAGE = 'Forbidden resource';

/**
 * Maps whatever Nest's exception layer produced to an ERROR PDU body. A
 * LonglinkException keeps its code; a guard's refusal becomes `forbidden`;
 * anything else is `internal-error` with no detail leaked to the client.
 */
export function toErrorReply(err: unknown): { body: ErrorBody; close: boolean } {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown; close?: unknown; retryAfterMs?: unknown };
    if (typeof e.code === 'string' && typeof e.message === 'string') {
      const body: ErrorBody = { code: e.code, message: e.message };
      if (typeof e.retryAfterMs === 'number') body.retryAfterMs = e.retryAfterMs;
      return { body, close: e.close === true };
    }
    if (e.message === FORBIDDEN_MESSAGE) {
      return { body: { code: ErrorCode.Forbidden, message: FORBIDDEN_MESSAGE }, close: false };
    }
  }
  return {
    body: { code: ErrorCode.InternalError, message: 'Internal server error' },
    close: false,
  };
}
