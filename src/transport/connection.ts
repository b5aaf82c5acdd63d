import { ConnectionStream, ListenerKind } from './connection-stream.js';
import { FlushScheduler, Flushable } from './flush-scheduler.js';
import {
  FrameDecoder,
  FrameError,
  FrameSink,
  HEADER_BYTES,
  OFF_OP,
  writeHeader,
} from './frame.codec.js';
import { WheelEntry } from './idle-wheel.js';
import { Op } from './op-codes.js';
import { BudgetedReader, ByteBucket, IpReadState } from './read-budget.js';
import { TokenBucket } from './token-bucket.js';
import { TransportStats } from './transport-stats.js';

/** The logged-in identity a connection carries; SessionService attaches richer objects. */
export interface ConnectionUser {
  readonly uid: string;
}

/** What a connection reports to the server that owns it. */
export interface ConnectionOwner {
  onFrame(conn: LonglinkConnection, op: number, seq: number, body: Buffer): void;
  onFrameError(conn: LonglinkConnection, error: FrameError): void;
  /** The connection began to close (once): the session ends here, not when the socket is gone. */
  onClosing(conn: LonglinkConnection): void;
  onClose(conn: LonglinkConnection): void;
  /** A read of `bytes` arrived (0: may a paused connection read?): ms to stop reading, 0 to go on. */
  onRead(conn: LonglinkConnection, bytes: number, now: number): number;
  /** Where frames sent, ERRORs and KICKs are counted. */
  readonly stats: TransportStats;
}

export interface ConnectionLimits {
  maxFrameBytes: number;
  /** The frame limit until login: enough for a LOGIN and its token. */
  maxPreLoginFrameBytes: number;
  maxWriteBufferBytes: number;
  loginTimeoutMs: number;
  heartbeatTimeoutMs: number;
}

/** How long a kicked or failed peer gets to read its last PDU before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;
/** Bounds of the per-turn output buffer: small for idle connections, capped for busy ones. */
const MIN_OUT_BYTES = 256;
const MAX_OUT_BYTES = 64 * 1024;

/**
 * One client connection: the socket, lastTick, remote address and user, a
 * streaming decoder and a write queue flushed once per event-loop turn.
 */
export class LonglinkConnection implements FrameSink, Flushable, WheelEntry, BudgetedReader {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly acceptedAt: number;
  lastTick: number;
  /** This connection's own read budget (see ReadBudget). */
  readonly readBucket: ByteBucket;
  /** Why the connection closed (or is closing); undefined while open. */
  closeReason: string | undefined = undefined;
  /** Packets counted in the current rate window, and when it started. */
  packets = 0;
  packetsWindowStart = 0;
  /** The token buckets of the rate rules this connection counts against, by rule index (see RateRulesHook). */
  rateBuckets: (TokenBucket | undefined)[] | null = null;

  flushQueued = false;
  wheelSlot = -1;
  /** When the current read arrived; lastTick takes it once a frame completes. */
  private readAt = 0;
  private drainWaiters: (() => void)[] = [];
  private waitingForSocketDrain = false;

  private readonly decoder: FrameDecoder;
  private out: Buffer | null = null;
  private outBytes = 0;
  private nextOutSize = MIN_OUT_BYTES;
  private closed = false;
  private currentUser: ConnectionUser | undefined = undefined;
  private resumeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly socket: ConnectionStream,
    private readonly owner: ConnectionOwner,
    private readonly scheduler: FlushScheduler,
    private readonly limits: ConnectionLimits,
    now: number,
    /** The peer as the TCP layer saw it (a TLS socket wraps the raw one). */
    remote: { address: string; port: number },
    /** The read budget this connection shares with its IP (see ReadBudget). */
    readonly ipReads: IpReadState,
    /** The listener that accepted it. */
    readonly listener: ListenerKind = 'tcp',
  ) {
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.acceptedAt = now;
    this.lastTick = now;
    this.readBucket = new ByteBucket(now);
    this.decoder = new FrameDecoder(this, limits.maxPreLoginFrameBytes, 'maxPreLoginFrameBytes');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      const now = (this.readAt = Date.now());
      // Charged first, by the state the bytes were sent in: a LOGIN among them, answered while
      // decoding, must not move its own read to the logged-in budget.
      const pauseMs = this.owner.onRead(this, chunk.length, now);
      this.decoder.push(chunk);
      if (pauseMs > 0) this.pauseReading(pauseMs);
    });
    socket.on('error', () => this.markClosing('socket-error'));
    socket.on('end', () =>
      this.markClosing(this.decoder.midFrame ? 'closed-mid-frame' : 'peer-closed'),
    );
    socket.on('close', () => this.onSocketClose());
  }

  /** The logged-in identity; set by the session layer. Login lifts the frame limit to maxFrameBytes. */
  get user(): ConnectionUser | undefined {
    return this.currentUser;
  }

  set user(user: ConnectionUser | undefined) {
    this.currentUser = user;
    if (user === undefined) {
      this.decoder.maxFrameBytes = this.limits.maxPreLoginFrameBytes;
      this.decoder.limitName = 'maxPreLoginFrameBytes';
    } else {
      this.decoder.maxFrameBytes = this.limits.maxFrameBytes;
      this.decoder.limitName = 'maxFrameBytes';
    }
  }

  get loggedIn(): boolean {
    return this.currentUser !== undefined;
  }

  /** Over its read budget: stop reading (TCP pushes back on the peer) until the debt is paid. */
  private pauseReading(ms: number): void {
    if (this.resumeTimer !== null || this.closed) return;
    this.socket.pause();
    this.resumeTimer = setTimeout(() => this.resumeReading(), ms);
    this.resumeTimer.unref();
  }

  private resumeReading(): void {
    this.resumeTimer = null;
    if (this.closed) return;
    // Other connections of this IP may have read meanwhile: wait on if the budget is still spent.
    const ms = this.owner.onRead(this, 0, Date.now());
    if (ms > 0) {
      this.resumeTimer = setTimeout(() => this.resumeReading(), ms);
      this.resumeTimer.unref();
    } else this.socket.resume();
  }

  get isOpen(): boolean {
    return this.closeReason === undefined;
  }

  /** Bytes queued for this peer and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  /**
   * Over half the write cap is waiting: producers that can wait (inbox pushes)
   * should, so a slow reader is paced instead of dropped as write-buffer-full.
   */
  get congested(): boolean {
    return this.bufferedBytes > this.limits.maxWriteBufferBytes / 2;
  }

  /** Calls `fn` once the connection is no longer congested (never, if it closes first). */
  onceDrained(fn: () => void): void {
    this.drainWaiters.push(fn);
    // With bytes still queued here, flush() checks again once they are handed to the socket.
    if (this.outBytes === 0) this.checkDrained();
  }

  private checkDrained(): void {
    if (this.drainWaiters.length === 0 || this.waitingForSocketDrain || this.closed) return;
    if (this.congested) {
      // socket.write returned false for these bytes, so 'drain' will come.
      this.waitingForSocketDrain = true;
      this.socket.once('drain', () => {
        this.waitingForSocketDrain = false;
        this.checkDrained();
      });
      return;
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const fn of waiters) fn();
  }

  /** Logged in: heartbeat deadline; before login, whichever of login and heartbeat comes first. */
  deadline(): number {
    const idle = this.lastTick + this.limits.heartbeatTimeoutMs;
    if (this.user) return idle;
    return Math.min(idle, this.acceptedAt + this.limits.loginTimeoutMs);
  }

  onFrame(op: number, seq: number, body: Buffer): void {
    // Only whole frames prove the peer alive: a byte a second (slowloris) does not.
    this.lastTick = this.readAt;
    if (this.closeReason === undefined) this.owner.onFrame(this, op, seq, body);
  }

  onFrameError(error: FrameError): void {
    this.owner.onFrameError(this, error);
  }

  /**
   * Queues one frame; it leaves with everything else queued this turn. Frames
   * are encoded straight into one output buffer per turn: no Buffer per frame,
   * no concat at flush.
   */
  send(op: number, seq: number, body?: string | Buffer): void {
    if (this.closed) return;
    // A string needs at most 3 bytes per UTF-16 unit; the exact size is known after writing.
    const room =
      HEADER_BYTES +
      (body === undefined ? 0 : typeof body === 'string' ? body.length * 3 : body.length);
    const out = this.reserve(room);
    const at = this.outBytes;
    let bodyBytes = 0;
    if (typeof body === 'string') bodyBytes = out.write(body, at + HEADER_BYTES);
    else if (body !== undefined) bodyBytes = body.copy(out, at + HEADER_BYTES);
    writeHeader(out, at, HEADER_BYTES + bodyBytes, op, seq);
    this.owner.stats.frameOut(op);
    this.commit(HEADER_BYTES + bodyBytes);
  }

  /** Queues an ERROR PDU whose body (`{code, message, …}` as JSON) carries `code`. */
  sendError(seq: number, code: string, body: string): void {
    this.owner.stats.error(code);
    this.send(Op.ERROR, seq, body);
  }

  /** Queues a frame that is already encoded (a push fanned out to many users). */
  enqueue(frame: Buffer): void {
    if (this.closed) return;
    frame.copy(this.reserve(frame.length), this.outBytes);
    this.owner.stats.frameOut(frame.readUInt32BE(OFF_OP));
    this.commit(frame.length);
  }

  flush(): void {
    const out = this.out;
    if (out === null || this.outBytes === 0 || this.closed) return;
    const bytes = this.outBytes;
    // The written slice belongs to the socket now; next turn starts a fresh buffer sized like this one.
    this.out = null;
    this.outBytes = 0;
    this.nextOutSize = Math.min(Math.max(bytes * 2, MIN_OUT_BYTES), MAX_OUT_BYTES);
    this.socket.write(out.subarray(0, bytes));
    if (this.drainWaiters.length > 0) this.checkDrained();
  }

  private reserve(room: number): Buffer {
    let out = this.out;
    if (out === null) {
      out = this.out = Buffer.allocUnsafe(Math.max(this.nextOutSize, room));
    } else if (out.length - this.outBytes < room) {
      const grown = Buffer.allocUnsafe(Math.max(out.length * 2, this.outBytes + room));
      out.copy(grown, 0, 0, this.outBytes);
      out = this.out = grown;
    }
    return out;
  }

  private commit(bytes: number): void {
    this.outBytes += bytes;
    if (this.outBytes + this.socket.writableLength > this.limits.maxWriteBufferBytes) {
      // The peer is not reading: drop it rather than let it grow our memory.
      this.destroy('write-buffer-full');
      return;
    }
    this.scheduler.schedule(this);
  }

  /** Sends a KICK (or ERROR) PDU, then closes once it is written. */
  kick(reason: string, message = reason): void {
    this.closeAfter(Op.KICK, 0, reason, message);
  }

  /** Answers with an ERROR PDU, then closes: for a stream that can no longer be trusted. */
  failAndClose(seq: number, code: string, message: string): void {
    this.closeAfter(Op.ERROR, seq, code, message);
  }

  /** Closes without a goodbye PDU. */
  destroy(reason: string): void {
    this.markClosing(reason);
    this.closed = true;
    this.out = null;
    this.outBytes = 0;
    this.socket.destroy();
  }

  /** Flushes what is queued, then half-closes; destroys after a grace period. */
  end(reason: string): void {
    if (this.closed) return;
    this.markClosing(reason);
    this.flush();
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private closeAfter(op: number, seq: number, code: string, message: string): void {
    if (this.closed) return;
    this.markClosing(code);
    if (op === Op.KICK) this.owner.stats.kick(code);
    else this.owner.stats.error(code);
    this.send(op, seq, JSON.stringify({ code, message }));
    this.end(code);
  }

  private markClosing(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.owner.onClosing(this);
  }

  private onSocketClose(): void {
    this.markClosing('closed');
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.closed = true;
    this.out = null;
    this.outBytes = 0;
    this.owner.onClose(this);
  }
}
