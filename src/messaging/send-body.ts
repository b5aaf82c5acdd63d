import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

export interface SendBody {
  to: string;
  clientMsgId: string;
  content: unknown;
}

const MAX_ID_CHARS = 128;

function badRequest(message: string): never {
  throw new LonglinkException(ErrorCode.BadRequest, message);
}

/**
 * Checks a MSG_SEND body by hand rather than with a class-validator pipe: this
 * is the hottest op, and Nest's pipe step costs more than the rest of the
 * handler. Errors name the field, as the pipe's would.
 */
export function parseSendBody(body: unknown): SendBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    badRequest('body must be an object');
  const { to, clientMsgId, content } = body as Record<string, unknown>;
  if (typeof to !== 'string' || to.length === 0 || to.length > MAX_ID_CHARS) {
    badRequest(`to: must be a non-empty string of at most ${MAX_ID_CHARS} characters`);
  }
  if (
    typeof clientMsgId !== 'string' ||
    clientMsgId.length === 0 ||
    clientMsgId.length > MAX_ID_CHARS
  ) {
    badRequest(`clientMsgId: must be a non-empty string of at most ${MAX_ID_CHARS} characters`);
  }
  if (content === undefined) badRequest('content: must be present (any JSON value)');
  return { to, clientMsgId, content };
}
