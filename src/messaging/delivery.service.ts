import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { SessionService } from '../session/session.service.js';
import { SessionUser } from '../session/session-user.js';
import { LoginEvent } from '../session/session.events.js';
import { InboxStream } from './inbox-stream.js';
import { MESSAGE_STORE, MessageStore } from './message.store.js';
import { StoredMessage } from './message.types.js';
import { MsgOp } from './messaging.ops.js';

/** While the store fails, a stream's reads are tried again after 250 ms, doubling up to 5 s. */
const STORE_RETRY_BASE_MS = 250;
const STORE_RETRY_MAX_MS = 5000;
/** Acks that could not be persisted are written again after this long. */
const ACK_RETRY_MS = 1000;

/** The MSG push body; content is spliced in as the JSON text it was stored as. */
export function encodeMsgPush(m: StoredMessage): string {
  return `{"msgId":"${m.msgId}","seq":${m.seq},"from":${JSON.stringify(m.from)},"content":${m.content},"ts":${m.ts}}`;
}

/**
 * Pushes each online user's inbox to their connection in seq order: backlog
 * first (read from the store in pages), then live messages, through one cursor,
 * so the boundary has no gap and no duplicate. Keeps at most pushWindow
 * messages un-acked per connection, pushes again after ackTimeoutMs, and after
 * maxPushAttempts stops until the client syncs.
 */
@Injectable()
export class DeliveryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('DeliveryService');
  private readonly streams = new Map<string, InboxStream>();
  private readonly pendingAcks = new Map<string, number>();
  private ackFlushScheduled = false;
  private ackRetry: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Per stream whose last store read failed: consecutive failures, and whether a retry waits. */
  private readonly storeRetries = new WeakMap<
    InboxStream,
    { failures: number; waiting: boolean }
  >();
  private subscriptions: Subscription[] = [];
  private loginsThisTurn: LoginEvent[] = [];
  private readonly window: number;
  private readonly ackTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly pageSize: number;
  /** Plain counters read by metrics at scrape time: first pushes, pushes again, pushes acked. */
  readonly counts = { pushed: 0, retransmitted: 0, acked: 0 };

  constructor(
    @Inject(MESSAGE_STORE) private readonly store: MessageStore,
    private readonly sessions: SessionService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    const m = config.messaging;
    this.window = m.pushWindow;
    this.ackTimeoutMs = m.ackTimeoutMs;
    this.maxAttempts = m.maxPushAttempts;
    this.pageSize = m.syncPageSize;
  }

  onModuleInit(): void {
    this.subscriptions = [
      // After the turn: the LOGIN reply is queued before the first push.
      this.sessions.logins$.subscribe((login) => this.openAfterTurn(login)),
      this.sessions.logouts$.subscribe(({ user }) => this.close(user)),
    ];
  }

  onModuleDestroy(): void {
    this.stopped = true;
    if (this.ackRetry) clearTimeout(this.ackRetry);
    this.ackRetry = null;
    for (const s of this.subscriptions) s.unsubscribe();
    for (const stream of this.streams.values()) this.dispose(stream);
    this.streams.clear();
  }

  /** A message was stored for `m.to`: push it if its user is online here. */
  onStored(m: StoredMessage): void {
    const stream = this.streams.get(m.to);
    if (!stream) return;
    if (m.seq > stream.newestSeq) stream.newestSeq = m.seq;
    // Fast path: the next message in order, room in the window, no read under way.
    if (
      !stream.reading &&
      !stream.stalled &&
      !stream.user.conn.congested &&
      stream.cursor === m.seq - 1 &&
      stream.inflight.size < this.window
    ) {
      this.push(stream, m);
      return;
    }
    void this.pump(stream);
  }

  /** PUSH_ACK: `upTo` acks everything up to it; `seqs` acks single messages. */
  ack(user: SessionUser, upTo: number | undefined, seqs: readonly number[] | undefined): void {
    const stream = this.streams.get(user.uid);
    if (!stream || stream.user !== user) return;
    if (upTo !== undefined) {
      for (const seq of stream.inflight.keys()) {
        if (seq > upTo) break;
        stream.inflight.delete(seq);
        this.counts.acked++;
      }
    }
    if (seqs) for (const seq of seqs) if (stream.inflight.delete(seq)) this.counts.acked++;
    const acked = Math.min(stream.contiguousAck(), stream.cursor);
    if (acked > stream.ackedSeq) {
      stream.ackedSeq = acked;
      this.queueAck(stream.uid, acked);
    }
    // A stalled stream records acks but pushes nothing until SYNC.
    if (!stream.stalled) void this.pump(stream);
  }

  /**
   * SYNC: the client holds everything up to lastSeq; resume after it. Returns the newest seq.
   * A SYNC that moves the cursor back re-pushes up to a window of messages: it takes effect
   * at most once per ackTimeoutMs per connection (a later one waits for that time, the
   * newest waiting one wins), so repeating it cannot multiply pushes; moving forward is free.
   */
  async sync(user: SessionUser, lastSeq: number): Promise<number> {
    const newest = await this.store.lastSeq(user.uid);
    const stream = this.streams.get(user.uid);
    if (!stream || stream.user !== user) return newest;
    stream.newestSeq = Math.max(stream.newestSeq, newest);
    this.clearDeferredSync(stream);
    if (lastSeq < stream.cursor) {
      const now = Date.now();
      const due = stream.lastRewindAt + this.ackTimeoutMs;
      if (now < due) {
        stream.deferredSync = lastSeq;
        stream.syncTimer = setTimeout(() => this.applyDeferredSync(stream), due - now);
        stream.syncTimer.unref();
        return newest;
      }
      stream.lastRewindAt = now;
    }
    this.resumeAfter(stream, lastSeq);
    return newest;
  }

  private applyDeferredSync(stream: InboxStream): void {
    const lastSeq = stream.deferredSync;
    stream.syncTimer = null;
    stream.deferredSync = null;
    if (stream.closed || lastSeq === null) return;
    stream.lastRewindAt = Date.now();
    this.resumeAfter(stream, lastSeq);
  }

  private clearDeferredSync(stream: InboxStream): void {
    if (stream.syncTimer) clearTimeout(stream.syncTimer);
    stream.syncTimer = null;
    stream.deferredSync = null;
  }

  /** Restarts pushes after lastSeq, forgetting what is in flight (SYNC). */
  private resumeAfter(stream: InboxStream, lastSeq: number): void {
    const newest = stream.newestSeq;
    this.clearTimer(stream);
    stream.epoch++;
    stream.reading = false;
    stream.inflight.clear();
    stream.stalled = false;
    stream.cursor = Math.min(lastSeq, newest);
    if (lastSeq > stream.ackedSeq) {
      stream.ackedSeq = Math.min(lastSeq, newest);
      this.queueAck(stream.uid, stream.ackedSeq);
    }
    setImmediate(() => void this.pump(stream));
  }

  /** Whether `uid` has an inbox stream on this node (is logged in here). */
  isLocal(uid: string): boolean {
    return this.streams.has(uid);
  }

  /**
   * Re-reads the newest seq of every local inbox and pushes what is new: after
   * notifications may have been lost (another node stored messages while this
   * one could not hear of them), the store is the truth.
   */
  async catchUp(uid?: string): Promise<void> {
    const streams = uid === undefined ? [...this.streams.values()] : [this.streams.get(uid)];
    for (const stream of streams) {
      if (stream === undefined || stream.closed) continue;
      try {
        const newest = await this.store.lastSeq(stream.uid);
        if (newest > stream.newestSeq) stream.newestSeq = newest;
      } catch (err) {
        this.logger.error(`catching up the inbox of ${stream.uid} failed: ${String(err)}`);
        continue;
      }
      void this.pump(stream);
    }
  }

  /** Un-acked pushes of a user's connection (for tests and metrics). */
  inflightCount(uid: string): number {
    return this.streams.get(uid)?.inflight.size ?? 0;
  }

  /** Un-acked pushes of every connection here (metrics, at scrape time). */
  inflightTotal(): number {
    let total = 0;
    for (const stream of this.streams.values()) total += stream.inflight.size;
    return total;
  }

  /** Writes pending acks now (shutdown). */
  async flushAcks(): Promise<void> {
    if (this.pendingAcks.size === 0) return;
    const acks = new Map(this.pendingAcks);
    this.pendingAcks.clear();
    try {
      await this.store.ack(acks);
    } catch (err) {
      // Kept for the next flush (the store is down): newer acks queued meanwhile win.
      for (const [uid, seq] of acks) {
        if ((this.pendingAcks.get(uid) ?? 0) < seq) this.pendingAcks.set(uid, seq);
      }
      throw err;
    }
  }

  /** One setImmediate for all the logins of a turn, opened in login order (a login ramp). */
  private openAfterTurn(login: LoginEvent): void {
    this.loginsThisTurn.push(login);
    if (this.loginsThisTurn.length === 1) setImmediate(this.openLoginsOfTurn);
  }

  private readonly openLoginsOfTurn = (): void => {
    const logins = this.loginsThisTurn;
    this.loginsThisTurn = [];
    for (const { user, lastSeq } of logins) void this.open(user, lastSeq);
  };

  private async open(user: SessionUser, lastSeq: number | undefined): Promise<void> {
    if (user.conn.user !== user) return; // gone before the turn ended
    const previous = this.streams.get(user.uid);
    if (previous) this.dispose(previous);
    // Registered before the reads, marked reading: a message stored meanwhile only raises newestSeq.
    const stream = new InboxStream(user, 0, 0);
    stream.reading = true;
    this.streams.set(user.uid, stream);
    await this.start(stream, lastSeq);
  }

  /** Reads where the inbox stands and starts pushing; while the store fails, tries again later. */
  private async start(stream: InboxStream, lastSeq: number | undefined): Promise<void> {
    const user = stream.user;
    let acked: number;
    let newest: number;
    try {
      [acked, newest] = await Promise.all([
        this.store.ackedSeq(user.uid),
        this.store.lastSeq(user.uid),
      ]);
    } catch (err) {
      if (stream.closed || stream.epoch !== 0) return;
      this.logger.error(`opening the inbox of ${user.uid} failed: ${String(err)}`);
      // Still marked reading: live messages only raise newestSeq until this succeeds (or a SYNC).
      this.retryLater(stream, () => {
        if (stream.epoch === 0) void this.start(stream, lastSeq);
      });
      return;
    }
    this.storeRetries.delete(stream);
    // Closed, or a SYNC arrived meanwhile and set the position itself.
    if (stream.closed || stream.epoch !== 0) return;
    const start = Math.min(lastSeq ?? acked, newest);
    stream.cursor = start;
    stream.ackedSeq = start;
    stream.newestSeq = Math.max(stream.newestSeq, newest);
    stream.reading = false;
    if (lastSeq !== undefined && lastSeq > acked) this.queueAck(user.uid, start);
    await this.pump(stream);
  }

  private close(user: SessionUser): void {
    const stream = this.streams.get(user.uid);
    if (!stream || stream.user !== user) return;
    this.dispose(stream);
    this.streams.delete(user.uid);
  }

  private dispose(stream: InboxStream): void {
    stream.closed = true;
    this.clearTimer(stream);
    this.clearDeferredSync(stream);
    stream.inflight.clear();
  }

  /** Fills the window from the store, page by page, in seq order. */
  private async pump(stream: InboxStream): Promise<void> {
    while (!stream.closed && !stream.reading && !stream.stalled && !stream.awaitingDrain) {
      const room = this.window - stream.inflight.size;
      if (room <= 0 || stream.cursor >= stream.newestSeq) return;
      if (this.waitForDrain(stream)) return;
      const epoch = stream.epoch;
      stream.reading = true;
      let page: StoredMessage[];
      try {
        page = await this.store.fetch(stream.uid, stream.cursor, Math.min(room, this.pageSize));
      } catch (err) {
        this.logger.error(`reading the inbox of ${stream.uid} failed: ${String(err)}`);
        // Nothing else may come to pump it (no new message, no ack): try again by itself.
        this.retryLater(stream, () => void this.pump(stream));
        return;
      } finally {
        if (stream.epoch === epoch) stream.reading = false;
      }
      this.storeRetries.delete(stream);
      if (stream.closed || stream.epoch !== epoch) return;
      if (page.length === 0) {
        // Pruned away under us: nothing left to push below newestSeq.
        stream.cursor = stream.newestSeq;
        return;
      }
      for (const m of page) {
        if (m.seq <= stream.cursor) continue;
        // The rest of the page is read again once the reader caught up.
        if (this.waitForDrain(stream)) return;
        this.push(stream, m);
      }
    }
  }

  /** True (and resumes the pump later) when the connection's write buffer is congested. */
  private waitForDrain(stream: InboxStream): boolean {
    const conn = stream.user.conn;
    if (!conn.congested) return false;
    stream.awaitingDrain = true;
    conn.onceDrained(() => {
      stream.awaitingDrain = false;
      void this.pump(stream);
    });
    return true;
  }

  private push(stream: InboxStream, m: StoredMessage): void {
    const frame = encodeMsgPush(m);
    stream.user.conn.send(MsgOp.MSG, 0, frame);
    stream.inflight.set(m.seq, {
      message: m,
      frame,
      deadline: Date.now() + this.ackTimeoutMs,
      attempts: 1,
    });
    stream.cursor = m.seq;
    this.counts.pushed++;
    if (stream.timer === null) this.armTimer(stream, this.ackTimeoutMs);
  }

  private armTimer(stream: InboxStream, delayMs: number): void {
    stream.timer = setTimeout(() => this.retransmit(stream), Math.max(delayMs, 1));
    stream.timer.unref();
  }

  private clearTimer(stream: InboxStream): void {
    if (stream.timer) clearTimeout(stream.timer);
    stream.timer = null;
  }

  private retransmit(stream: InboxStream): void {
    stream.timer = null;
    if (stream.closed || stream.inflight.size === 0) return;
    const now = Date.now();
    let next = Infinity;
    for (const entry of stream.inflight.values()) {
      if (entry.deadline > now) {
        next = Math.min(next, entry.deadline);
        continue;
      }
      if (entry.attempts >= this.maxAttempts) {
        // Give up on this connection until the client syncs or logs in again; acks still count.
        stream.stalled = true;
        this.logger.debug?.(`uid=${stream.uid}: push retries exhausted; waiting for SYNC`);
        return;
      }
      entry.attempts++;
      entry.deadline = now + this.ackTimeoutMs;
      next = Math.min(next, entry.deadline);
      stream.user.conn.send(MsgOp.MSG, 0, entry.frame);
      this.counts.retransmitted++;
    }
    if (next !== Infinity) this.armTimer(stream, next - now);
  }

  /**
   * After a failed store read of `stream`: runs `retry` later (once, however many reads
   * failed meanwhile), backing off while the store keeps failing, unless the stream closed.
   */
  private retryLater(stream: InboxStream, retry: () => void): void {
    const state = this.storeRetries.get(stream) ?? { failures: 0, waiting: false };
    this.storeRetries.set(stream, state);
    if (state.waiting) return;
    const delay = Math.min(STORE_RETRY_BASE_MS * 2 ** state.failures, STORE_RETRY_MAX_MS);
    state.failures++;
    state.waiting = true;
    // Jittered: the streams of every online user fail together and should not retry together.
    const timer = setTimeout(
      () => {
        state.waiting = false;
        if (!stream.closed && !this.stopped) retry();
      },
      delay / 2 + (Math.random() * delay) / 2,
    );
    timer.unref();
  }

  private queueAck(uid: string, seq: number): void {
    if ((this.pendingAcks.get(uid) ?? 0) < seq) this.pendingAcks.set(uid, seq);
    this.scheduleAckFlush();
  }

  private scheduleAckFlush(): void {
    if (this.ackFlushScheduled) return;
    this.ackFlushScheduled = true;
    setImmediate(() => {
      this.ackFlushScheduled = false;
      this.flushAcks().catch((err) => {
        this.logger.error(`persisting acks failed: ${String(err)}`);
        // They were put back: write them again later, if nothing else flushes them first.
        if (this.stopped || this.ackRetry) return;
        this.ackRetry = setTimeout(() => {
          this.ackRetry = null;
          this.scheduleAckFlush();
        }, ACK_RETRY_MS);
        this.ackRetry.unref();
      });
    });
  }
}
