/**
 * The ceiling for bench/compare.bench.ts: a bare node:net relay speaking the
 * longlink wire protocol with the shared codec and no framework and no store.
 * LOGIN verifies the HS256 token (node:crypto HMAC, exp, sub); HEARTBEAT is
 * answered; SEND is acknowledged at once ({clientMsgId, msgId, seq, ts}) and
 * pushed as MSG ({msgId, seq, from, content, ts}) to the recipient if online
 * (otherwise dropped); PUSH_ACK is parsed and needs no answer. Nagle is off and
 * everything queued for a connection in one event-loop turn leaves in one write.
 *   PORT=7600 node --import tsx bench/peers/relay.server.ts
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Socket, createServer } from 'node:net';
import { DEV_JWT_SECRET } from '../../src/config/config.constants';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { FrameDecoder, FrameSink, encodeFrame } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';

const port = Number(process.env.PORT ?? 7600);
const secret = process.env.JWT_SECRET ?? DEV_JWT_SECRET;
const heartbeatIntervalMs = Number(process.env.HEARTBEAT_INTERVAL_MS ?? 30000);

/** Connections with output queued this turn, flushed by one setImmediate. */
const dirty: Conn[] = [];
let flushScheduled = false;
const users = new Map<string, Conn>();
/** Next inbox seq per recipient (the only state a store would otherwise keep). */
const inboxSeq = new Map<string, number>();

function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i].flush();
  dirty.length = 0;
}

function verifyToken(token: unknown): string | null {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const mac = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const sig = Buffer.from(parts[2], 'base64url');
  if (sig.length !== mac.length || !timingSafeEqual(sig, mac)) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString()) as { alg?: string };
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString()) as {
      sub?: string;
      exp?: number;
    };
    if (header.alg !== 'HS256' || typeof claims.sub !== 'string' || claims.sub === '') return null;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return null;
    return claims.sub;
  } catch {
    return null;
  }
}

class Conn implements FrameSink {
  uid: string | undefined;
  private out: Buffer[] = [];
  private readonly decoder = new FrameDecoder(this, 65536);

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.uid !== undefined && users.get(this.uid) === this) users.delete(this.uid);
    });
  }

  queue(frame: Buffer): void {
    if (this.out.length === 0) {
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
    this.out.push(frame);
  }

  flush(): void {
    const out = this.out;
    this.out = [];
    if (this.socket.destroyed) return;
    this.socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
  }

  private error(seq: number, code: string): void {
    this.queue(encodeFrame(Op.ERROR, seq, JSON.stringify({ code, message: code })));
  }

  onFrame(op: number, seq: number, body: Buffer): void {
    switch (op) {
      case Op.HEARTBEAT:
        return this.queue(encodeFrame((Op.HEARTBEAT | REPLY_FLAG) >>> 0, seq));
      case Op.LOGIN:
        return this.login(seq, body);
      case MsgOp.SEND:
        return this.send(seq, body);
      case MsgOp.PUSH_ACK: {
        if (this.uid === undefined) return this.error(seq, 'not-logged-in');
        const ack = JSON.parse(body.toString()) as { upTo?: unknown };
        if (typeof ack.upTo !== 'number') this.error(seq, 'bad-request');
        return;
      }
      default:
        return this.error(seq, 'unknown-op');
    }
  }

  onFrameError(): void {
    this.socket.destroy();
  }

  private login(seq: number, body: Buffer): void {
    let uid: string | null = null;
    try {
      uid = verifyToken((JSON.parse(body.toString()) as { token?: unknown }).token);
    } catch {
      uid = null;
    }
    if (uid === null) return this.error(seq, 'invalid-token');
    const older = users.get(uid);
    if (older !== undefined && older !== this) older.socket.destroy();
    this.uid = uid;
    users.set(uid, this);
    const reply = {
      uid,
      heartbeatIntervalMs,
      heartbeatTimeoutMs: 3 * heartbeatIntervalMs,
      serverTimeMs: Date.now(),
    };
    this.queue(encodeFrame((Op.LOGIN | REPLY_FLAG) >>> 0, seq, JSON.stringify(reply)));
  }

  private send(seq: number, body: Buffer): void {
    if (this.uid === undefined) return this.error(seq, 'not-logged-in');
    let msg: { to?: unknown; clientMsgId?: unknown; content?: unknown };
    try {
      msg = JSON.parse(body.toString()) as typeof msg;
    } catch {
      return this.error(seq, 'bad-json');
    }
    if (typeof msg.to !== 'string' || typeof msg.clientMsgId !== 'string')
      return this.error(seq, 'bad-request');
    const inbox = (inboxSeq.get(msg.to) ?? 0) + 1;
    inboxSeq.set(msg.to, inbox);
    const msgId = randomUUID();
    const ts = Date.now();
    const ack = { clientMsgId: msg.clientMsgId, msgId, seq: inbox, ts };
    this.queue(encodeFrame((MsgOp.SEND | REPLY_FLAG) >>> 0, seq, JSON.stringify(ack)));
    const push = { msgId, seq: inbox, from: this.uid, content: msg.content, ts };
    users.get(msg.to)?.queue(encodeFrame(MsgOp.MSG, 0, JSON.stringify(push)));
  }
}

const server = createServer({ noDelay: true }, (socket) => new Conn(socket));
server.listen(port, '127.0.0.1');
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
