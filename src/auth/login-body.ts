import { maxLength } from 'class-validator';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/** The LOGIN body's fields, checked (docs/PROTOCOL.md §4.1). */
export interface LoginBody {
  token: string;
  /** Omitted (or null): delivery resumes after the last acked seq. */
  lastSeq?: number;
}

const MAX_TOKEN_CHARS = 8192;

/**
 * Checks a LOGIN body by hand, with exactly the answers LonglinkValidationPipe
 * gives for LoginDto (login-body.spec.ts compares the two): the pipe's
 * class-transformer and class-validator pass was ~45 µs of a LOGIN's ~215 µs.
 * Lengths count as class-validator counts them (surrogate pairs and
 * presentation sequences as one): a non-empty string has at least one
 * character, so only a string longer than the limit needs the exact count.
 */
export function parseLoginBody(payload: unknown): LoginBody {
  // The pipe validates a non-object as an empty object.
  const body = typeof payload === 'object' && payload !== null ? payload : {};
  const { token, lastSeq } = body as { token?: unknown; lastSeq?: unknown };
  let problems: string | undefined;
  if (typeof token !== 'string') problems = 'token: token must be a string';
  else if (token.length === 0) {
    problems = 'token: token must be longer than or equal to 1 characters';
  } else if (token.length > MAX_TOKEN_CHARS && !maxLength(token, MAX_TOKEN_CHARS)) {
    problems = `token: token must be shorter than or equal to ${MAX_TOKEN_CHARS} characters`;
  }
  if (lastSeq !== undefined && lastSeq !== null) {
    let problem: string | undefined;
    if (typeof lastSeq !== 'number' || !Number.isInteger(lastSeq)) {
      problem = 'lastSeq: lastSeq must be an integer number';
    } else if (lastSeq < 0) problem = 'lastSeq: lastSeq must not be less than 0';
    if (problem !== undefined)
      problems = problems === undefined ? problem : `${problems}; ${problem}`;
  }
  if (problems !== undefined) throw new LonglinkException(ErrorCode.BadRequest, problems);
  return {
    token: token as string,
    lastSeq: typeof lastSeq === 'number' ? lastSeq : undefined,
  };
}
