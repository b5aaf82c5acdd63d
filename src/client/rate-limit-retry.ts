/** Times one frame is sent again after ERROR rate-limited before the refusal stands. */
export const MAX_RATE_LIMIT_RETRIES = 5;
/** Added to retryAfterMs: the server's window and this client's clock do not end together. */
export const RETRY_MARGIN_MS = 25;
/** The wait when an ERROR rate-limited carries no retryAfterMs (an older server): one window. */
const DEFAULT_WAIT_MS = 1000;
/** PUSH_ACKs remembered for a resend: they are cumulative, so only the latest few matter. */
const NOTIFY_MEMORY = 16;

interface Sent {
  readonly frame: Buffer;
  retries: number;
}

/** What to do about a refusal: send `frame` again once `delayMs` have passed. */
export interface Retry {
  frame: Buffer;
  delayMs: number;
}

/**
 * The frames of one connection that may be refused with ERROR rate-limited, by seq. The server
 * did not process a refused frame (docs/PROTOCOL.md §5), so sending the very same bytes again is
 * safe for any request, SEND included (same clientMsgId: stored once), and for a PUSH_ACK.
 */
export class RateLimitRetry {
  private readonly sent = new Map<number, Sent>();
  private readonly notifies: number[] = [];

  /** A request: remembered until forget(seq), when it settles. */
  trackRequest(seq: number, frame: Buffer): void {
    this.sent.set(seq, { frame, retries: 0 });
  }

  /** A frame with no reply (PUSH_ACK): remembered among the last few. */
  trackNotify(seq: number, frame: Buffer): void {
    this.sent.set(seq, { frame, retries: 0 });
    this.notifies.push(seq);
    if (this.notifies.length > NOTIFY_MEMORY) this.sent.delete(this.notifies.shift() as number);
  }

  forget(seq: number): void {
    this.sent.delete(seq);
  }

  /** The resend for a refused `seq`, or undefined: unknown, or refused too often already. */
  onRefused(seq: number, retryAfterMs: number | undefined, windowMs?: number): Retry | undefined {
    const entry = this.sent.get(seq);
    if (entry === undefined || entry.retries >= MAX_RATE_LIMIT_RETRIES) return undefined;
    entry.retries++;
    const wait = retryAfterMs ?? windowMs ?? DEFAULT_WAIT_MS;
    return { frame: entry.frame, delayMs: Math.max(0, wait) + RETRY_MARGIN_MS };
  }
}
