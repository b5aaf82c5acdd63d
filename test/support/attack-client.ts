import { Socket } from 'node:net';
import { FrameDecoder, FrameError, encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { OpenSocketOptions, openSocket } from './open-socket';
import { sleep } from './wait';

/** One frame the server sent, reduced to what an attacker tallies. */
export interface AttackAnswer {
  op: number;
  seq: number;
  /** The code of an ERROR or KICK. */
  code?: string;
}

export interface AttackOpenOptions extends OpenSocketOptions {
  timeoutMs?: number;
}

/**
 * A raw attacking connection: sends whatever it is told, and counts what the
 * server answers (replies, ERROR and KICK codes) without keeping every frame, so
 * floods of thousands of connections stay cheap. Used by the out-of-process abuse
 * bench (bench/abuse/), where the attacker runs apart from the gateway and the
 * measured bystander.
 */
export class AttackClient {
  readonly openedAt = Date.now();
  closedAt: number | undefined;
  bytesReceived = 0;
  replies = 0;
  /** ERROR codes received, by code (seq 0 included). */
  readonly errors: Record<string, number> = {};
  /** The KICK reason, if one came. */
  kick: string | undefined;
  /** The code of an ERROR with seq 0: the server declared the stream broken (and closes). */
  fatal: string | undefined;
  loggedIn = false;
  /** Closed by us (destroy), not by the server. */
  destroyedByUs = false;
  readonly done: Promise<void>;
  private nextSeq = 1;
  private readonly waiters = new Map<number, (answer: AttackAnswer | undefined) => void>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => this.receive(op, seq, body),
        // A broken server stream is not ours to judge here: count it and stop decoding.
        onFrameError: (err: FrameError) => this.bump(`bad-server-frame-${err.code}`),
      },
      1 << 26,
    );
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      decoder.push(chunk);
    });
    socket.on('error', () => undefined);
    this.done = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        clearInterval(this.timer);
        for (const settle of this.waiters.values()) settle(undefined);
        this.waiters.clear();
        resolve();
      }),
    );
  }

  /** Connects; rejects on a connect error or timeout (a refused-at-accept socket still connects). */
  static async open(options: AttackOpenOptions): Promise<AttackClient> {
    return new AttackClient(await openSocket(options, options.timeoutMs ?? 5000));
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Writes unless closed; false when the socket buffers (backpressure) or is gone. */
  write(bytes: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(bytes);
  }

  /** Resolves once the socket can take more (or has closed). */
  drained(): Promise<void> {
    if (this.closed || !this.socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Sends a request; resolves with its reply or ERROR, or undefined if the connection closes or time runs out. */
  request(op: number, body?: unknown, timeoutMs = 5000): Promise<AttackAnswer | undefined> {
    const seq = this.nextSeq++;
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(seq, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.write(encodeJsonFrame(op, seq, body));
    });
  }

  /** LOGIN {token}: the answer (reply or ERROR), or undefined when closed first. */
  login(token: string, timeoutMs?: number): Promise<AttackAnswer | undefined> {
    return this.request(Op.LOGIN, { token }, timeoutMs);
  }

  /** Writes `bytes` one byte every `everyMs`, cycling, until the socket closes. */
  dribble(bytes: Buffer, everyMs: number): void {
    let i = 0;
    this.timer = setInterval(() => {
      const at = i++ % bytes.length;
      this.write(bytes.subarray(at, at + 1));
    }, everyMs);
  }

  /** Writes `frame` every `everyMs` until the socket closes. */
  repeat(frame: Buffer, everyMs: number): void {
    this.timer = setInterval(() => this.write(frame), everyMs);
  }

  destroy(): void {
    clearInterval(this.timer);
    if (!this.closed) this.destroyedByUs = true;
    this.socket.destroy();
  }

  /**
   * How this connection ended, as the attacker saw it: `refused at accept` (closed
   * by the server before it sent a byte), `KICK <reason>`, `ERROR <code>` (a fatal,
   * seq 0 ERROR), `closed` (by the server, no PDU), `open`, or `closed by attacker`.
   */
  get outcome(): string {
    if (this.kick !== undefined) return `KICK ${this.kick}`;
    if (this.fatal !== undefined) return `ERROR ${this.fatal}`;
    if (this.destroyedByUs) return 'closed by attacker';
    if (!this.closed) return 'open';
    return this.bytesReceived === 0 ? 'refused at accept' : 'closed';
  }

  private bump(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  private receive(op: number, seq: number, body: Buffer): void {
    let code: string | undefined;
    if (op === Op.ERROR || op === Op.KICK) {
      try {
        code = String((JSON.parse(body.toString('utf8')) as { code?: unknown }).code);
      } catch {
        code = 'unparseable';
      }
      if (op === Op.KICK) this.kick = code;
      else {
        this.bump(code);
        if (seq === 0) this.fatal = code;
      }
    } else if (op & REPLY_FLAG) {
      this.replies++;
      if ((op & ~REPLY_FLAG) === Op.LOGIN) this.loggedIn = true;
    }
    const settle = seq === 0 ? undefined : this.waiters.get(seq);
    if (settle) {
      this.waiters.delete(seq);
      settle({ op, seq, code });
    }
  }
}

/** Adds `by` to `map[key]`. */
export function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/**
 * What many attacking connections got, summed: outcomes (see AttackClient.outcome),
 * ERROR codes, replies served, and connect errors (no connection at all).
 */
export class AttackTally {
  connects = 0;
  readonly outcomes: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  readonly connectErrors: Record<string, number> = {};
  replies = 0;
  /** The most replies one connection got (the work the server did for it). */
  maxReplies = 0;
  logins = 0;

  /** Counts a connection once it is over (or at the end of the attack). */
  add(client: AttackClient): void {
    this.connects++;
    bump(this.outcomes, client.outcome);
    for (const [code, n] of Object.entries(client.errors)) bump(this.errors, code, n);
    this.replies += client.replies;
    this.maxReplies = Math.max(this.maxReplies, client.replies);
    if (client.loggedIn) this.logins++;
  }

  /** Opens an attacking connection; a connect error is counted, and after a short pause gives undefined. */
  async open(options: AttackOpenOptions): Promise<AttackClient | undefined> {
    try {
      return await AttackClient.open(options);
    } catch (err) {
      this.connectError(err);
      await sleep(10);
      return undefined;
    }
  }

  connectError(err: unknown): void {
    bump(this.connectErrors, (err as NodeJS.ErrnoException).code ?? 'timeout');
  }

  merge(other: AttackTally): void {
    this.connects += other.connects;
    for (const [k, n] of Object.entries(other.outcomes)) bump(this.outcomes, k, n);
    for (const [k, n] of Object.entries(other.errors)) bump(this.errors, k, n);
    for (const [k, n] of Object.entries(other.connectErrors)) bump(this.connectErrors, k, n);
    this.replies += other.replies;
    this.maxReplies = Math.max(this.maxReplies, other.maxReplies);
    this.logins += other.logins;
  }
}
