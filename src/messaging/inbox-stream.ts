import { SessionUser } from '../session/session-user.js';
import { StoredMessage } from './message.types.js';

export interface Inflight {
  message: StoredMessage;
  frame: string;
  deadline: number;
  attempts: number;
}

/**
 * Delivery state of one logged-in connection: the seed's per-user set of pushed
 * messages waiting for the client's ACK, plus the cursor that keeps pushes in
 * inbox order with no gap and no duplicate.
 */
export class InboxStream {
  /** Highest seq pushed on this connection (or the client's stated lastSeq). */
  cursor: number;
  /** Newest seq known to exist in the inbox. */
  newestSeq: number;
  /** Pushed and not yet acked, keyed by seq; insertion order is seq order. */
  readonly inflight = new Map<number, Inflight>();
  /** A read from the store is under way. */
  reading = false;
  /** Retries ran out: nothing is pushed until the client syncs or logs in again. */
  stalled = false;
  /** Bumped by SYNC, so a read begun before it is discarded. */
  epoch = 0;
  /** Highest seq below which everything is acked. */
  ackedSeq: number;
  timer: NodeJS.Timeout | null = null;
  closed = false;
  /** Paused until the connection's socket drains (slow reader). */
  awaitingDrain = false;
  /** When a SYNC last moved the cursor back (re-pushing what followed it). */
  lastRewindAt = -Infinity;
  /** A rewinding SYNC that came too soon after the last one: applied when its timer fires. */
  deferredSync: number | null = null;
  syncTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly user: SessionUser,
    startSeq: number,
    newestSeq: number,
  ) {
    this.cursor = startSeq;
    this.ackedSeq = startSeq;
    this.newestSeq = Math.max(newestSeq, startSeq);
  }

  get uid(): string {
    return this.user.uid;
  }

  /** Everything up to the first un-acked seq is acked. */
  contiguousAck(): number {
    for (const seq of this.inflight.keys()) return seq - 1;
    return this.cursor;
  }
}
