import { MsgOp } from '../messaging/messaging.ops.js';
import { InboxTracker } from './inbox-tracker.js';
import type { LastSeqStore } from './last-seq.store.js';
import { LatestValueWriter } from './latest-value.writer.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import type { ProtocolLink } from './protocol-link.js';
import { type InboxMessage, parseInboxMessage, parseSyncReply } from './server-bodies.js';

/** What InboxDelivery needs from the client around it. */
export interface InboxDeliveryHost {
  /** The logged-in link, or null while (re)connecting or closed. */
  readyLink(): ProtocolLink | null;
  /** Calls the 'message' listeners; returns what they returned. */
  deliver(message: InboxMessage): unknown[];
  /** Whether anyone listens: with no listener, the inbox is left on the server. */
  hasListeners(): boolean;
  report(error: unknown): void;
  /** Drops a link that stopped answering (the client then reconnects). */
  drop(link: ProtocolLink, reason: string): void;
}

export interface InboxDeliveryOptions {
  autoAck: boolean;
  dedupeWindow: number;
  store: LastSeqStore;
  requestTimeoutMs: number;
}

/** setImmediate where there is one: the acks of a whole read go out as one PUSH_ACK. */
const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => setImmediate(fn) : (fn) => setTimeout(fn, 0);

/**
 * The inbox side of a session (docs/PROTOCOL.md §4.6): hands MSG pushes to the application in
 * seq order, each once; acknowledges them (PUSH_ACK) when processed; persists the held seq;
 * and SYNCs after a login, on a gap, and when the server's retries may have run out.
 */
export class InboxDelivery {
  private readonly tracker: InboxTracker;
  private readonly writer: LatestValueWriter<number>;
  private readonly queue: InboxMessage[] = [];
  /** Pushes that came while nobody listened, not taken yet (bounded by the server's window). */
  private parked: unknown[] = [];
  private draining = false;
  /** A SYNC is in flight: pushes before its reply are dropped, since it pushes them again. */
  private syncing = false;
  private resyncWhenDrained = false;
  private ackScheduled = false;
  private stopped = false;

  constructor(
    private readonly options: InboxDeliveryOptions,
    private readonly host: InboxDeliveryHost,
  ) {
    this.tracker = new InboxTracker(options.dedupeWindow);
    this.writer = new LatestValueWriter<number>(
      (seq) => options.store.save(seq),
      (error) => host.report(error),
    );
  }

  /** The highest seq processed without a gap (what the store holds). */
  get held(): number | undefined {
    return this.tracker.held;
  }

  /** What LOGIN's lastSeq should say: everything taken so far, processed or queued. */
  get resumeSeq(): number | undefined {
    return this.tracker.accepted;
  }

  /** Before the first login of a connect(): start from the store. */
  async start(): Promise<void> {
    await this.writer.idle();
    this.tracker.restore(await this.options.store.load());
    this.stopped = false;
  }

  /** After close(): forget what was queued but not processed; it will be pushed again. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.parked = [];
    this.tracker.rewind();
    this.syncing = false;
    this.resyncWhenDrained = false;
  }

  /** Resolves once the store has seen the last held seq. */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  onPush(body: unknown): void {
    if (this.syncing || this.stopped) return;
    if (!this.host.hasListeners()) {
      // Not taken, so not acknowledged: a client that never listens leaves its inbox on the
      // server; one that starts listening a bit late gets these at once, not after a retry.
      if (this.parked.length < this.options.dedupeWindow) this.parked.push(body);
      return;
    }
    this.take(body);
  }

  /** A 'message' listener was added: hand over what arrived before it. */
  listenerAdded(): void {
    const parked = this.parked;
    this.parked = [];
    for (const body of parked) this.take(body);
  }

  private take(body: unknown): void {
    if (this.syncing || this.stopped) return;
    let message: InboxMessage;
    try {
      message = parseInboxMessage(body);
    } catch (error) {
      this.host.report(error);
      return;
    }
    const arrival = this.tracker.take(message);
    if (arrival === 'new') {
      this.queue.push(message);
      void this.drain();
    } else if (arrival === 'gap') {
      void this.resync();
    } else {
      // Pushed again while still queued here: the server's retries may run out, after which it
      // waits for a SYNC (§4.6); so sync once the queue is through.
      if (message.seq > (this.tracker.held ?? 0)) this.resyncWhenDrained = true;
      this.scheduleAck();
    }
  }

  ack(seq: number): void {
    if (this.tracker.ack(seq) && this.tracker.held !== undefined) {
      this.writer.write(this.tracker.held);
    }
    this.scheduleAck();
  }

  /** Sends the PUSH_ACK due now, if any, on `link` (paced like every frame). */
  flushAck(link: ProtocolLink): void {
    const ack = this.tracker.takeAck();
    if (ack !== undefined) link.notify(MsgOp.PUSH_ACK, ack);
  }

  /** The PUSH_ACK due now, written past the pacer: close() ends the link right after. */
  flushFinalAck(link: ProtocolLink): void {
    const ack = this.tracker.takeAck();
    if (ack !== undefined) link.notifyNow(MsgOp.PUSH_ACK, ack);
  }

  scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    defer(() => {
      this.ackScheduled = false;
      // When not connected, the next LOGIN carries lastSeq, which acknowledges as much.
      const link = this.host.readyLink();
      if (link !== null) this.flushAck(link);
    });
  }

  /** SYNC on `link`: pushes resume after what we hold. Detects a server that lost our inbox. */
  async syncOn(link: ProtocolLink): Promise<void> {
    this.syncing = true;
    try {
      let again = true;
      while (again) {
        const lastSeq = this.tracker.accepted ?? 0;
        // Runs as the reply is decoded, before the pushes that follow it in the stream.
        await link.request(MsgOp.SYNC, { lastSeq }, this.options.requestTimeoutMs, (body) => {
          const newest = parseSyncReply(body);
          again = newest < lastSeq;
          if (again) {
            // Its inbox restarted (a memory store, a restore): every message in it is new to us.
            this.tracker.resetTo(0);
            this.writer.write(0);
          } else {
            this.syncing = false;
          }
        });
      }
    } finally {
      this.syncing = false;
    }
  }

  /** Hands queued messages to the listeners one at a time, in seq order. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (let message = this.queue.shift(); message; message = this.queue.shift()) {
      const outcomes = await Promise.allSettled(this.host.deliver(message));
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') this.host.report(outcome.reason);
      }
      // A listener that failed still counts as processed: one bad message must not wedge the
      // inbox. Applications that need retries use autoAck: false.
      if (this.options.autoAck && !this.stopped) this.ack(message.seq);
    }
    this.draining = false;
    if (this.resyncWhenDrained) {
      this.resyncWhenDrained = false;
      void this.resync();
    }
  }

  private async resync(): Promise<void> {
    const link = this.host.readyLink();
    if (this.syncing || link === null) return;
    try {
      await this.syncOn(link);
    } catch (error) {
      const code = error instanceof LonglinkClientError ? error.code : undefined;
      if (code === ClientErrorCode.Timeout) this.host.drop(link, 'SYNC timeout');
      else if (code !== ClientErrorCode.Disconnected) this.host.report(error);
    }
  }
}
