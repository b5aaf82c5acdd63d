import { MsgOp } from '../../src/messaging/messaging.ops';
import { FrameDecoder, FrameError } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { TestClient } from './test-client';
import { TestGateway } from './test-gateway';
import { sleep } from './wait';

/** A MSG push body. */
export interface PushedMessage {
  msgId: string;
  seq: number;
  from: string;
  content: unknown;
  ts: number;
}

/** The SEND_ACK body. */
export interface SendAckBody {
  clientMsgId: string;
  msgId: string;
  seq: number;
  ts: number;
}

/** A reply or ERROR to one of this client's requests. */
export interface Reply {
  op: number;
  seq: number;
  body: any;
}

/** A SEND answered with ERROR. */
export class MessagingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export /** Polls `check` until it holds; fails naming `what`. */
async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Unique per process, so two clients of one user never reuse a clientMsgId by accident. */
let clientMsgIds = 0;
const CLIENT_MSG_ID_PREFIX = `c${process.pid}-${Date.now().toString(36)}`;
export function nextClientMsgId(): string {
  return `${CLIENT_MSG_ID_PREFIX}-${++clientMsgIds}`;
}

/**
 * What the application side of a client keeps across connections: the messages it
 * showed (each once, deduped by msgId) and the highest inbox seq it holds.
 * Share one between the connections of a user to model a reconnecting app.
 */
export class InboxState {
  /** Each message once, in the order the application saw it. */
  readonly appSeen: PushedMessage[] = [];
  readonly seenIds = new Set<string>();
  /** The highest inbox seq the application holds. */
  lastSeq = 0;
  /** Seqs that arrived with a gap before them (a real client would SYNC). */
  readonly gaps: number[] = [];

  /** Takes a push; true when the application sees it for the first time. */
  accept(m: PushedMessage): boolean {
    if (this.seenIds.has(m.msgId)) return false;
    this.seenIds.add(m.msgId);
    if (m.seq !== this.lastSeq + 1) this.gaps.push(m.seq);
    this.lastSeq = Math.max(this.lastSeq, m.seq);
    this.appSeen.push(m);
    return true;
  }

  seqs(): number[] {
    return this.appSeen.map((m) => m.seq);
  }
}

export interface MessagingClientOptions {
  /** Ack each push with PUSH_ACK {upTo: seq} (default true). */
  autoAck?: boolean;
  /** Application state to continue from (a reconnect); a fresh one by default. */
  state?: InboxState;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
}

/**
 * A client that behaves as a real messaging client must: it records every MSG
 * push, shows each message to the application once (dedupe by msgId), acks what
 * it received, and keeps lastSeq for the next LOGIN or SYNC. Frames are decoded
 * next to TestClient's own recording, so `conn.frames` stays complete.
 */
export class MessagingClient {
  /** Every MSG push on this connection, retransmits included, in arrival order. */
  readonly pushes: PushedMessage[] = [];
  /** The `upTo` of every PUSH_ACK actually sent. */
  readonly acksSent: number[] = [];
  /** Acks that auto-ack skipped (lost on the way, as far as the server knows). */
  readonly acksDropped: number[] = [];
  readonly state: InboxState;
  autoAck: boolean;
  kick: { code: string; message: string } | undefined;
  private dropAcks = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private waiters: Waiter[] = [];

  constructor(
    readonly conn: TestClient,
    options: MessagingClientOptions = {},
  ) {
    this.state = options.state ?? new InboxState();
    this.autoAck = options.autoAck ?? true;
    const decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => this.receive(op, seq, body),
        onFrameError: (err: FrameError) => {
          throw err;
        },
      },
      16 * 1024 * 1024,
    );
    conn.socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  }

  /** Connects (not logged in). */
  static async connect(
    gw: TestGateway,
    options?: MessagingClientOptions,
  ): Promise<MessagingClient> {
    return new MessagingClient(await gw.client(), options);
  }

  /** Connects and logs in as `uid`, optionally stating the lastSeq it holds. */
  static async loggedIn(
    gw: TestGateway,
    uid: string,
    options: MessagingClientOptions & { lastSeq?: number } = {},
  ): Promise<MessagingClient> {
    const client = await MessagingClient.connect(gw, options);
    const reply = await client.login(await gw.token(uid), options.lastSeq);
    if (reply.op !== (Op.LOGIN | REPLY_FLAG) >>> 0) {
      throw new Error(`login of ${uid} failed: ${JSON.stringify(reply.body)}`);
    }
    return client;
  }

  get appSeen(): PushedMessage[] {
    return this.state.appSeen;
  }

  get lastSeq(): number {
    return this.state.lastSeq;
  }

  login(token: string, lastSeq?: number): Promise<Reply> {
    return this.request(Op.LOGIN, lastSeq === undefined ? { token } : { token, lastSeq });
  }

  /** Sends a request and resolves with its reply or ERROR. */
  request(op: number, body?: unknown, timeoutMs = 3000): Promise<Reply> {
    const seq = this.conn.send(op, body);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`no reply to op ${op} seq ${seq} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  /** SEND; resolves with the SEND_ACK body, rejects with MessagingError on ERROR. */
  async send(to: string, content: unknown, clientMsgId = nextClientMsgId()): Promise<SendAckBody> {
    const reply = await this.request(MsgOp.SEND, { to, clientMsgId, content });
    if (reply.op === Op.ERROR) throw new MessagingError(reply.body.code, reply.body.message);
    return reply.body as SendAckBody;
  }

  /**
   * Sends `count` messages to `to`, pipelined with at most `inFlight` unanswered;
   * resolves with the SEND_ACKs in send order.
   */
  async sendMany(
    to: string,
    count: number,
    content: (i: number) => unknown = (i) => i,
    inFlight = 500,
  ): Promise<SendAckBody[]> {
    const acks: SendAckBody[] = new Array(count);
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const i = next++;
        acks[i] = await this.send(to, content(i));
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
    return acks;
  }

  /** SYNC {lastSeq}; resolves with the newest seq the server reports. */
  async sync(lastSeq = this.state.lastSeq): Promise<number> {
    const reply = await this.request(MsgOp.SYNC, { lastSeq });
    if (reply.op === Op.ERROR) throw new MessagingError(reply.body.code, reply.body.message);
    return reply.body.lastSeq as number;
  }

  /** PUSH_ACK {upTo} (no reply). */
  ack(upTo: number): void {
    this.acksSent.push(upTo);
    this.conn.send(MsgOp.PUSH_ACK, { upTo });
  }

  /** PUSH_ACK {seqs} (no reply). */
  ackSeqs(seqs: number[]): void {
    this.conn.send(MsgOp.PUSH_ACK, { seqs });
  }

  /** The next `n` auto-acks are not sent: a PUSH_ACK lost on the way. */
  dropNextAcks(n = 1): void {
    this.dropAcks += n;
  }

  /** Seqs of this connection's pushes, in arrival order. */
  pushSeqs(): number[] {
    return this.pushes.map((m) => m.seq);
  }

  waitUntil(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `${what}: not within ${timeoutMs} ms (pushes ${this.pushes.length}, app saw ${this.appSeen.length}, lastSeq ${this.lastSeq})`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Until the application has seen `n` messages (over any connection sharing the state). */
  waitForApp(n: number, timeoutMs = 3000): Promise<void> {
    return this.waitUntil(() => this.appSeen.length >= n, `app sees ${n} messages`, timeoutMs);
  }

  /** Until this connection has received `n` pushes, retransmits included. */
  waitForPushes(n: number, timeoutMs = 3000): Promise<void> {
    return this.waitUntil(() => this.pushes.length >= n, `${n} pushes`, timeoutMs);
  }

  close(): void {
    this.conn.close();
  }

  private receive(op: number, seq: number, raw: Buffer): void {
    const body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    if (op === MsgOp.MSG) {
      this.onPush(body as PushedMessage);
    } else if (op === Op.KICK) {
      this.kick = body;
    } else if (seq !== 0) {
      const settle = this.pending.get(seq);
      if (settle) {
        this.pending.delete(seq);
        settle({ op, seq, body });
      }
    }
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }

  private onPush(m: PushedMessage): void {
    this.pushes.push(m);
    this.state.accept(m);
    if (!this.autoAck) return;
    if (this.dropAcks > 0) {
      this.dropAcks--;
      this.acksDropped.push(m.seq);
      return;
    }
    this.ack(m.seq);
  }
}
