import { RpcException } from '@nestjs/microservices';

/** The wire shape of an ERROR PDU body. */
export interface ErrorBody {
  code: string;
  message: string;
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
  ) {
    super({ code, message, close });
  }
}
