/**
 * Codes of failures the client detects itself. Codes the server sends (docs/PROTOCOL.md §5, e.g.
 * `not-logged-in`, `rate-limited`) pass through unchanged, so callers branch on one `code`.
 */
export const ClientErrorCode = {
  /** The transport could not be opened (refused, unreachable, connect timeout). */
  CannotConnect: 'cannot-connect',
  /**
   * The TLS handshake failed: the server's certificate is not trusted (self-signed, unknown CA,
   * wrong name, expired) or the server does not speak TLS. `cause` is Node's error, whose `code`
   * says which (`DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, …).
   */
  Tls: 'tls',
  /** No answer within the request's timeout. */
  Timeout: 'timeout',
  /** The request was made while the client was not connected (before connect(), after close). */
  NotConnected: 'not-connected',
  /** The connection dropped (or was kicked) before the answer came. */
  Disconnected: 'disconnected',
  /** close() was called while the operation was waiting. */
  Closed: 'closed',
  /** The server sent something this client cannot read: a bad frame or an unexpected body. */
  BadReply: 'bad-reply',
  /**
   * The request's frame would exceed the server's announced `maxFrameBytes` (which would close
   * the connection): not sent.
   */
  MessageTooLarge: 'message-too-large',
  /** send() with `outbox.maxMessages` messages already waiting for their acknowledgement. */
  OutboxFull: 'outbox-full',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Every failure the client reports: a stable `code` for program logic, a message for people. */
export class LonglinkClientError extends Error {
  override readonly name = 'LonglinkClientError';

  constructor(
    /** A ClientErrorCode, or the code of the server's ERROR. */
    readonly code: string,
    message: string,
    /** True when the server sent this code in an ERROR (or KICK). */
    readonly fromServer = false,
    /** The underlying failure, when there is one (Node's TLS error for `tls`). */
    cause?: unknown,
    /** From the server's ERROR (`daily-quota-exceeded`): ms until the request may succeed. */
    readonly retryAfterMs?: number,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}
