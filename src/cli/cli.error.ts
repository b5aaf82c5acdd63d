import { ConfigError } from '../config/config.error.js';
import { ClientErrorCode, LonglinkClientError } from '../client/longlink-client.error.js';

/** A failure the CLI explains in one line and exits non-zero for; never a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';

  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * The text after `error: `. Server refusals lead with their stable code (`not-logged-in`), so
 * scripts can match it; the server's message follows in parentheses.
 */
export function describeError(error: unknown): string {
  if (error instanceof LonglinkClientError) {
    // Their messages say it all: `cannot connect to …`, `tls: self-signed certificate (…)`.
    if (error.code === ClientErrorCode.CannotConnect || error.code === ClientErrorCode.Tls) {
      return error.message;
    }
    return error.message ? `${error.code} (${error.message})` : error.code;
  }
  if (error instanceof ConfigError) return error.message.split('\n').join('; ');
  if (error instanceof Error) return error.message;
  return String(error);
}

export function exitCodeOf(error: unknown): number {
  return error instanceof CliError ? error.exitCode : 1;
}
