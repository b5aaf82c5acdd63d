import { isUtf8 } from 'node:buffer';

/*
 * Server-side body parsing, apart from frame.codec.ts so that the client SDK's
 * graph (which reaches the codec, and runs in browsers) never reaches node:buffer.
 */

export class BodyError extends Error {
  readonly code = 'bad-json';
}

/** Nesting allowed in a body by default: ample for messages, far below what recursion in pipes survives. */
export const DEFAULT_MAX_JSON_DEPTH = 64;
/** Items (commas plus objects and arrays) allowed in a body by default: a PUSH_ACK of 1,024 seqs fits. */
export const DEFAULT_MAX_JSON_ITEMS = 2048;

/** What a body may cost to decode; checked on its bytes before JSON.parse builds anything. */
export interface BodyLimits {
  /** Nesting levels of objects/arrays. */
  maxDepth: number;
  /** Commas plus objects and arrays, outside strings: a bound on keys and array elements. */
  maxItems: number;
}

export const DEFAULT_BODY_LIMITS: BodyLimits = {
  maxDepth: DEFAULT_MAX_JSON_DEPTH,
  maxItems: DEFAULT_MAX_JSON_ITEMS,
};

/**
 * Why JSON text costs more than `limits` allow, or null. A byte scan that skips
 * strings. JSON.parse itself copes with any depth and size, but what follows it
 * (validation, JSON.stringify, the store) costs per key and per level, and
 * recursion overflows.
 */
function tooCostly(buf: Buffer, { maxDepth, maxItems }: BodyLimits): string | null {
  let depth = 0;
  let items = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x2c) {
      if (++items > maxItems) return `body has more than ${maxItems} keys and array elements`;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return `body nests deeper than ${maxDepth} levels`;
      if (++items > maxItems) return `body has more than ${maxItems} keys and array elements`;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return null;
}

/**
 * Parses a body: empty means `{}`; otherwise strict UTF-8 JSON within `limits`
 * (nesting, and keys plus array elements).
 */
export function parseBody(body: Buffer, limits: BodyLimits = DEFAULT_BODY_LIMITS): unknown {
  if (body.length === 0) return {};
  if (!isUtf8(body)) throw new BodyError('body is not valid UTF-8');
  // Each item and each level takes at least one byte (levels two, with their closers):
  // bodies too short to break either limit skip the scan (an invalid one fails JSON.parse anyway).
  if (body.length > limits.maxItems || body.length >= 2 * (limits.maxDepth + 1)) {
    const problem = tooCostly(body, limits);
    if (problem !== null) throw new BodyError(problem);
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new BodyError(`body is not valid JSON: ${(err as Error).message}`);
  }
}
