import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/*
 * Messaging bodies are checked by hand rather than with a class-validator pipe:
 * these are the hottest ops, and Nest's pipe step (plus class-transformer and
 * class-validator) cost more than the rest of the handler. Errors name the
 * field, as the pipe's would.
 */

export interface SendBody {
  to: string;
  clientMsgId: string;
  content: unknown;
}

export interface PushAckBody {
  upTo?: number;
  seqs?: number[];
}

const MAX_ID_CHARS = 128;
const MAX_ACK_SEQS = 1024;

function badRequest(message: string): never {
  throw new LonglinkException(ErrorCode.BadRequest, message);
}

function fields(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    badRequest('body must be an object');
  }
  return body as Record<string, unknown>;
}

function isSeq(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}

function id(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_CHARS) {
    badRequest(`${name}: must be a non-empty string of at most ${MAX_ID_CHARS} characters`);
  }
  return value;
}

/** SEND {to, clientMsgId, content}. */
export function parseSendBody(body: unknown): SendBody {
  const { to, clientMsgId, content } = fields(body);
  const parsed = { to: id(to, 'to'), clientMsgId: id(clientMsgId, 'clientMsgId'), content };
  if (content === undefined) badRequest('content: must be present (any JSON value)');
  return parsed;
}

/** PUSH_ACK {upTo?, seqs?}: at least one. */
export function parsePushAckBody(body: unknown): PushAckBody {
  const { upTo, seqs } = fields(body);
  if (upTo === undefined && seqs === undefined) badRequest('upTo: give upTo or seqs');
  if (upTo !== undefined && !isSeq(upTo, 0)) badRequest('upTo: must be an integer ≥ 0');
  if (seqs !== undefined) {
    if (!Array.isArray(seqs) || seqs.length > MAX_ACK_SEQS) {
      badRequest(`seqs: must be an array of at most ${MAX_ACK_SEQS} seqs`);
    }
    if (!seqs.every((s) => isSeq(s, 1))) badRequest('seqs: each must be an integer ≥ 1');
  }
  return { upTo: upTo as number | undefined, seqs: seqs as number[] | undefined };
}

/** SYNC {lastSeq}. */
export function parseSyncBody(body: unknown): number {
  const { lastSeq } = fields(body);
  if (!isSeq(lastSeq, 0)) badRequest('lastSeq: must be an integer ≥ 0');
  return lastSeq;
}
