import { Socket, connect } from 'node:net';
import { mintToken } from '../../src/auth/token.factory';
import { DEV_JWT_SECRET } from '../../src/config/config.constants';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { FrameDecoder, encodeJsonFrame } from '../../src/transport/frame.codec';
import { KickReason } from '../../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { sleep } from './wait';

/** The SEND_ACK body. */
export interface SendAckBody {
  clientMsgId: string;
  msgId: string;
  seq: number;
  ts: number;
}

/** A message handed to the application (after dedupe by msgId), in arrival order. */
export interface InboxMessage {
  msgId: string;
  seq: number;
  from: string;
  content: any;
  ts: number;
}

/** One message this client submitted. */
export interface Outgoing {
  to: string;
  clientMsgId: string;
  content: unknown;
  /** The SEND_ACK, once one arrived. */
  ack?: SendAckBody;
  /** How many times a SEND frame carried it. */
  transmissions: number;
  lastSentAt: number;
}

export interface ReliableClientOptions {
  port: number;
  host?: string;
  uid: string;
  /** HS256 secret of the gateway; the shipped development secret by default. */
  secret?: string;
  /** Reconnect (with lastSeq) whenever the connection breaks, until close(). */
  autoReconnect?: boolean;
  /** Delay before each reconnect attempt. */
  reconnectDelayMs?: () => number;
  /** Unacknowledged SENDs are sent again on the same connection after this long. */
  resendTimeoutMs?: number;
  /** Delay before a PUSH_ACK goes out (a slow application); acks are coalesced meanwhile. */
  ackDelayMs?: () => number;
  /** A LOGIN that gets no answer within this long fails (and the socket is dropped). */
  loginTimeoutMs?: number;
}

interface Connection {
  readonly id: number;
  readonly socket: Socket;
  loggedIn: boolean;
  loginSeq: number;
  nextSeq: number;
  /** Frame seq of each SEND written on this connection → its clientMsgId. */
  readonly sends: Map<number, string>;
  /** Frame seq of each SYNC written on this connection → the lastSeq it stated. */
  readonly syncs: Map<number, number>;
}

const SEND_REPLY = (MsgOp.SEND | REPLY_FLAG) >>> 0;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const SYNC_REPLY = (MsgOp.SYNC | REPLY_FLAG) >>> 0;

/**
 * A client that follows the messaging protocol the way a real one must:
 *
 * - receiving: LOGIN carries the last inbox seq it holds; each MSG is deduped by
 *   msgId, handed to the application (`inbox`), and then acknowledged with
 *   PUSH_ACK {upTo: lastSeq}, lastSeq being the highest seq below which it holds
 *   every message; lastSeq survives reconnects.
 * - sending: every message is kept until its SEND_ACK arrives and is sent again,
 *   with the same clientMsgId and in submission order, after each (re)login and
 *   after resendTimeoutMs without an answer.
 *
 * It never throws on protocol surprises; it records them in `anomalies` so a
 * spec can assert there were none and show them all.
 */
export class ReliableClient {
  readonly uid: string;
  /** Messages handed to the application, in arrival order, each msgId once. */
  readonly inbox: InboxMessage[] = [];
  /** Highest seq such that every seq up to it has been received. */
  lastSeq = 0;
  /** MSG pushes dropped because their msgId was already delivered. */
  duplicatesDropped = 0;
  /** Every message submitted, in submission order. */
  readonly outbox: Outgoing[] = [];
  /** Messages in the order their first SEND_ACK arrived. */
  readonly acked: Outgoing[] = [];
  /** Protocol violations and errors seen (should stay empty). */
  readonly anomalies: string[] = [];
  /** KICK reasons received. */
  readonly kicks: string[] = [];
  /** Completed logins (the first one included). */
  logins = 0;
  /** Called after each first SEND_ACK of a message. */
  onAck: ((message: Outgoing) => void) | undefined;
  /** Called after each message handed to the application. */
  onDeliver: ((message: InboxMessage) => void) | undefined;

  private readonly byClientMsgId = new Map<string, Outgoing>();
  /** Unacknowledged messages; Map insertion order is submission order. */
  private readonly pending = new Map<string, Outgoing>();
  private readonly seenMsgIds = new Set<string>();
  private readonly msgIdBySeq = new Map<number, string>();
  private readonly aboveLastSeq = new Set<number>();
  private conn: Connection | null = null;
  private readonly abandoned = new Set<Socket>();
  private connecting: Promise<void> | null = null;
  private nextConnectionId = 1;
  private closed = false;
  /** Kicked with relogin: a client must not reconnect on its own after that. */
  private replaced = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private readonly resendTimer: NodeJS.Timeout;
  private token: Promise<string> | null = null;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(private readonly options: ReliableClientOptions) {
    this.uid = options.uid;
    const resendMs = options.resendTimeoutMs ?? 3000;
    this.resendTimer = setInterval(() => this.resendStale(resendMs), Math.max(resendMs / 2, 10));
    this.resendTimer.unref();
  }

  /** Logged in on a live connection. */
  get online(): boolean {
    return this.conn?.loggedIn === true;
  }

  /** Submitted and not yet acknowledged. */
  get unacked(): Outgoing[] {
    return [...this.pending.values()];
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Connects and logs in with lastSeq; resolves once logged in. Joins an attempt under way. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.uid}: client is closed`));
    if (this.online) return Promise.resolve();
    this.connecting ??= this.open()
      .catch((err: unknown) => {
        // Refused, or cut before the login completed: try again later if asked to.
        if (this.options.autoReconnect && this.conn === null) this.scheduleReconnect();
        throw err;
      })
      .finally(() => {
        this.connecting = null;
      });
    return this.connecting;
  }

  /** Retries connect() until it succeeds (e.g. while the server restarts). */
  async connectWithin(timeoutMs: number, retryDelayMs = 50): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.connect();
        return;
      } catch (err) {
        if (this.closed || Date.now() + retryDelayMs > deadline) {
          throw new Error(`${this.uid}: could not log in within ${timeoutMs} ms: ${String(err)}`);
        }
        await sleep(retryDelayMs);
      }
    }
  }

  /** Submits a message; it is sent now if logged in, else at the next login. */
  send(to: string, clientMsgId: string, content: unknown): Outgoing {
    if (this.byClientMsgId.has(clientMsgId)) {
      throw new Error(`${this.uid}: clientMsgId ${clientMsgId} submitted twice`);
    }
    const message: Outgoing = { to, clientMsgId, content, transmissions: 0, lastSentAt: 0 };
    this.outbox.push(message);
    this.byClientMsgId.set(clientMsgId, message);
    this.pending.set(clientMsgId, message);
    if (this.conn?.loggedIn) this.transmit(this.conn, message);
    return message;
  }

  /**
   * SYNC {lastSeq}: asks the server to push again everything after lastSeq (what a
   * client does when it suspects it missed pushes). False when not logged in.
   */
  sync(): boolean {
    const conn = this.conn;
    if (!conn?.loggedIn) return false;
    const seq = conn.nextSeq++;
    conn.syncs.set(seq, this.lastSeq);
    conn.socket.write(encodeJsonFrame(MsgOp.SYNC, seq, { lastSeq: this.lastSeq }));
    return true;
  }

  /** Cuts the connection abruptly (a network failure); reconnects later if autoReconnect. */
  cut(): void {
    this.conn?.socket.destroy();
  }

  /**
   * Moves to a new connection without closing the current one (a phone switching
   * networks): the old socket is abandoned, not closed, so the server learns of
   * the move only from the new LOGIN (and kicks the old connection with relogin).
   * Frames still arriving on the old socket are never read by the application.
   */
  switchConnection(): Promise<void> {
    const old = this.conn;
    if (old === null || this.connecting) return this.connect();
    this.conn = null;
    this.abandoned.add(old.socket);
    old.socket.once('close', () => this.abandoned.delete(old.socket));
    return this.connect();
  }

  /** Closes for good: no reconnect, no timers. */
  close(): void {
    this.closed = true;
    clearInterval(this.resendTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.clearAckTimer();
    this.conn?.socket.destroy();
    this.conn = null;
    for (const socket of this.abandoned) socket.destroy();
    this.abandoned.clear();
  }

  /** Resolves once `check()` holds; rejects with describe() after timeoutMs. */
  waitUntil(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.uid}: timed out after ${timeoutMs} ms: ${describe()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves once the current connection (if any) is gone. */
  waitOffline(timeoutMs = 5000): Promise<void> {
    return this.waitUntil(
      () => this.conn === null,
      timeoutMs,
      () => 'the connection is still open',
    );
  }

  private async open(): Promise<void> {
    this.token ??= mintToken(this.uid, {
      secret: this.options.secret ?? DEV_JWT_SECRET,
      expiresIn: '1h',
    });
    const token = await this.token;
    if (this.closed) throw new Error(`${this.uid}: client is closed`);
    await new Promise<void>((resolve, reject) => {
      const socket = connect({
        port: this.options.port,
        host: this.options.host ?? '127.0.0.1',
        noDelay: true,
      });
      const conn: Connection = {
        id: this.nextConnectionId++,
        socket,
        loggedIn: false,
        loginSeq: 1,
        nextSeq: 2,
        sends: new Map(),
        syncs: new Map(),
      };
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(loginTimer);
        if (err) reject(err);
        else resolve();
      };
      const loginTimer = setTimeout(() => {
        settle(new Error('no LOGIN reply'));
        socket.destroy();
      }, this.options.loginTimeoutMs ?? 5000);
      const decoder = new FrameDecoder(
        {
          onFrame: (op, seq, body) => this.onFrame(conn, op, seq, body, settle),
          onFrameError: (err) => {
            this.anomaly(`conn#${conn.id}: undecodable stream: ${err.message}`);
            socket.destroy();
          },
        },
        16 * 1024 * 1024,
      );
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
      socket.on('error', () => undefined);
      socket.once('connect', () => {
        if (this.closed) return socket.destroy();
        this.conn?.socket.destroy();
        this.conn = conn;
        socket.write(encodeJsonFrame(Op.LOGIN, conn.loginSeq, { token, lastSeq: this.lastSeq }));
      });
      socket.once('close', () => {
        settle(new Error(`connection closed before login (conn#${conn.id})`));
        this.onClose(conn);
      });
    });
  }

  private onClose(conn: Connection): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.notify();
    if (this.options.autoReconnect) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closed || this.replaced || this.online) return;
    const delay = this.options.reconnectDelayMs?.() ?? 20;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed || this.online) return;
      this.connect().catch(() => undefined); // a failed attempt schedules the next one
    }, delay);
  }

  private onFrame(
    conn: Connection,
    op: number,
    seq: number,
    raw: Buffer,
    settleLogin: (err?: Error) => void,
  ): void {
    if (this.conn !== conn) return; // a connection this client already gave up
    let body: any;
    try {
      body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      this.anomaly(`conn#${conn.id}: op ${op} seq ${seq}: body is not JSON`);
      return;
    }
    switch (op) {
      case LOGIN_REPLY:
        if (seq !== conn.loginSeq) return this.anomaly(`LOGIN reply with seq ${seq}`);
        conn.loggedIn = true;
        this.logins++;
        settleLogin();
        // Every unacknowledged message again, in submission order, same clientMsgId.
        for (const message of this.pending.values()) this.transmit(conn, message);
        this.notify();
        return;
      case SEND_REPLY:
        return this.onSendAck(conn, seq, body);
      case SYNC_REPLY: {
        const stated = conn.syncs.get(seq);
        conn.syncs.delete(seq);
        if (stated === undefined) return this.anomaly(`SYNC reply for unknown frame seq ${seq}`);
        if (!Number.isInteger(body?.lastSeq) || body.lastSeq < stated) {
          this.anomaly(`SYNC from ${stated} answered ${JSON.stringify(body)}`);
        }
        return;
      }
      case MsgOp.MSG:
        return this.onMsg(body);
      case Op.KICK: {
        const reason = String(body?.code ?? body?.reason);
        this.kicks.push(reason);
        // Another login of this user took over: do not fight it by reconnecting.
        if (reason === KickReason.Relogin) this.replaced = true;
        return;
      }
      case Op.ERROR:
        if (seq === conn.loginSeq && !conn.loggedIn) {
          settleLogin(new Error(`LOGIN refused: ${JSON.stringify(body)}`));
          conn.socket.destroy();
          return;
        }
        return this.onError(conn, seq, body);
      default:
        if ((op & REPLY_FLAG) === 0) this.anomaly(`unexpected push op ${op}`);
    }
  }

  private onSendAck(conn: Connection, seq: number, body: any): void {
    const clientMsgId = conn.sends.get(seq);
    conn.sends.delete(seq);
    if (clientMsgId === undefined) return this.anomaly(`SEND_ACK for unknown frame seq ${seq}`);
    if (
      body === null ||
      typeof body !== 'object' ||
      body.clientMsgId !== clientMsgId ||
      typeof body.msgId !== 'string' ||
      !Number.isInteger(body.seq) ||
      typeof body.ts !== 'number'
    ) {
      return this.anomaly(`SEND_ACK for ${clientMsgId} is malformed: ${JSON.stringify(body)}`);
    }
    const message = this.byClientMsgId.get(clientMsgId)!;
    const ack = body as SendAckBody;
    if (message.ack) {
      // A resend: the server must answer with the record it stored the first time.
      if (message.ack.msgId !== ack.msgId || message.ack.seq !== ack.seq) {
        this.anomaly(
          `resend of ${clientMsgId} acked as msgId ${ack.msgId} seq ${ack.seq}, ` +
            `first ack was msgId ${message.ack.msgId} seq ${message.ack.seq}`,
        );
      }
      return;
    }
    message.ack = ack;
    this.pending.delete(clientMsgId);
    this.acked.push(message);
    this.onAck?.(message);
    this.notify();
  }

  private onError(conn: Connection, seq: number, body: any): void {
    const clientMsgId = conn.sends.get(seq);
    conn.sends.delete(seq);
    // The message stays pending and goes again after resendTimeoutMs or at the next login.
    this.anomaly(
      `ERROR for frame seq ${seq}${clientMsgId ? ` (SEND ${clientMsgId})` : ''}: ${JSON.stringify(body)}`,
    );
  }

  private onMsg(body: any): void {
    if (
      body === null ||
      typeof body !== 'object' ||
      typeof body.msgId !== 'string' ||
      !Number.isInteger(body.seq) ||
      body.seq < 1 ||
      typeof body.from !== 'string'
    ) {
      return this.anomaly(`malformed MSG: ${JSON.stringify(body)}`);
    }
    const { msgId, seq, from, content, ts } = body as InboxMessage;
    const known = this.msgIdBySeq.get(seq);
    if (known !== undefined && known !== msgId) {
      this.anomaly(`seq ${seq} carried msgId ${known} and later msgId ${msgId}`);
    }
    if (this.seenMsgIds.has(msgId)) {
      this.duplicatesDropped++;
    } else {
      this.seenMsgIds.add(msgId);
      this.msgIdBySeq.set(seq, msgId);
      const message: InboxMessage = { msgId, seq, from, content, ts };
      this.inbox.push(message);
      this.onDeliver?.(message);
    }
    if (seq > this.lastSeq) {
      this.aboveLastSeq.add(seq);
      while (this.aboveLastSeq.delete(this.lastSeq + 1)) this.lastSeq++;
    }
    // Acknowledge after recording, duplicates included: a resend means our ack was lost.
    this.scheduleAck();
    this.notify();
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    const delay = this.options.ackDelayMs?.() ?? 0;
    const fire = () => {
      this.ackTimer = null;
      const conn = this.conn;
      if (conn?.loggedIn && this.lastSeq > 0) {
        conn.socket.write(encodeJsonFrame(MsgOp.PUSH_ACK, conn.nextSeq++, { upTo: this.lastSeq }));
      }
    };
    this.ackTimer = setTimeout(fire, delay);
  }

  private clearAckTimer(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }

  private transmit(conn: Connection, message: Outgoing): void {
    const seq = conn.nextSeq++;
    conn.sends.set(seq, message.clientMsgId);
    message.transmissions++;
    message.lastSentAt = Date.now();
    conn.socket.write(
      encodeJsonFrame(MsgOp.SEND, seq, {
        to: message.to,
        clientMsgId: message.clientMsgId,
        content: message.content,
      }),
    );
  }

  /** Sends every unacked message again, in order, when the oldest has waited too long. */
  private resendStale(timeoutMs: number): void {
    const conn = this.conn;
    if (!conn?.loggedIn) return;
    const oldest = this.pending.values().next();
    if (oldest.done || Date.now() - oldest.value.lastSentAt < timeoutMs) return;
    for (const message of this.pending.values()) this.transmit(conn, message);
  }

  private anomaly(text: string): void {
    this.anomalies.push(`${this.uid}: ${text}`);
  }

  private notify(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}
