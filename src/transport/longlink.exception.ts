import { RpcException } from '@nestjs/microservices';

/** The wire shape of an ERROR PDU body. */
export interface ErrorBody {
  code: string;
  message: string;
  /** A refusal that ends by itself (a quota): ms until the request may succeed. */
  retryAfterMs?: number;
}

/**
 * Throw from a handler, guard, pipe or interceptor to answer the request with an
 * ERROR PDU carrying `code` (a stable string, see docs/PROTOCOL.md). With
 * `close`, the connection is closed once the ERROR is written.
 */
export class LonglinkException extends RpcException {
  constructor(
    readonly code: string,
    message: string,
    readonly close = false,
    /** Carried in the ERROR body: when the refusal ends (e.g. daily-quota-exceeded). */
    readonly retryAfterMs?: number,
  ) {
    super(
      retryAfterMs === undefined
        ? { code, message, close }
        : { code, message, close, retryAfterMs },
    );
  }
}
