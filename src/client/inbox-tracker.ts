import { RecentIds } from './recent-ids.js';
import type { InboxMessage } from './server-bodies.js';

/** What to do with a MSG push. */
export type Arrival = 'new' | 'duplicate' | 'gap';

/** A PUSH_ACK body (docs/PROTOCOL.md §4.6). */
export interface PushAck {
  upTo: number;
  seqs?: number[];
}

/** PUSH_ACK takes at most this many single seqs. */
const MAX_ACK_SEQS = 1024;

/**
 * The client's view of its inbox (§4.6 "Client algorithm"), without I/O:
 * - `accepted`: the highest seq taken for the application, contiguously; what LOGIN and SYNC
 *   resume after, so messages already queued here are not pushed again;
 * - `held`: the highest seq the application has processed (acknowledged), contiguously; what is
 *   persisted, so a restarted app gets back whatever it had not finished;
 * - recent msgIds, so a message is handed over once even across a resync.
 */
export class InboxTracker {
  private acceptedSeq: number | undefined;
  private heldSeq: number | undefined;
  private readonly ackedAhead = new Set<number>();
  private singleAcks: number[] = [];
  private ackDue = false;
  private readonly recent: RecentIds;

  constructor(dedupeWindow: number) {
    this.recent = new RecentIds(dedupeWindow);
  }

  get accepted(): number | undefined {
    return this.acceptedSeq;
  }

  get held(): number | undefined {
    return this.heldSeq;
  }

  /** Starts from a saved seq (or none: the first push then sets the baseline). */
  restore(seq: number | undefined): void {
    this.acceptedSeq = this.heldSeq = seq;
    this.ackedAhead.clear();
    this.singleAcks = [];
  }

  /** Forgets messages taken but not processed, so they are fetched again (after close()). */
  rewind(): void {
    this.restore(this.heldSeq);
  }

  /** Classifies a push; a 'new' one is taken (accepted advances). */
  take(message: InboxMessage): Arrival {
    if (this.recent.has(message.msgId)) return this.duplicate(message.seq);
    if (this.acceptedSeq === undefined) {
      // Nothing known yet: the server resumed after what it saw acknowledged; start there.
      this.heldSeq = message.seq - 1;
    } else if (message.seq <= this.acceptedSeq) {
      return this.duplicate(message.seq);
    } else if (message.seq > this.acceptedSeq + 1) {
      return 'gap';
    }
    this.acceptedSeq = message.seq;
    this.recent.add(message.msgId);
    return 'new';
  }

  /** The application processed `seq`; true when `held` advanced (and should be persisted). */
  ack(seq: number): boolean {
    const held = this.heldSeq;
    const accepted = this.acceptedSeq;
    if (held === undefined || accepted === undefined || seq <= held || seq > accepted) return false;
    this.ackedAhead.add(seq);
    let next = held;
    while (this.ackedAhead.delete(next + 1)) next++;
    this.ackDue = true;
    if (next === held) {
      this.singleAcks.push(seq);
      return false;
    }
    this.heldSeq = next;
    this.singleAcks = this.singleAcks.filter((s) => s > next);
    return true;
  }

  /** The server's inbox is behind us (it lost its store): start over from its newest seq. */
  resetTo(newest: number): void {
    this.restore(newest);
  }

  /** The PUSH_ACK to send now, if any. */
  takeAck(): PushAck | undefined {
    if (!this.ackDue || this.heldSeq === undefined) return undefined;
    this.ackDue = false;
    const ack: PushAck = { upTo: this.heldSeq };
    if (this.singleAcks.length > 0) {
      ack.seqs = this.singleAcks.slice(0, MAX_ACK_SEQS);
      this.singleAcks = this.singleAcks.slice(MAX_ACK_SEQS);
      this.ackDue = this.singleAcks.length > 0;
    }
    return ack;
  }

  private duplicate(seq: number): Arrival {
    // Pushed again although already processed: our PUSH_ACK was lost, so send it again.
    if (this.heldSeq !== undefined && seq <= this.heldSeq) this.ackDue = true;
    return 'duplicate';
  }
}
