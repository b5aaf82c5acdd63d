/**
 * The longlink protocol driver, used for longlink and for the bare relay (which
 * speaks the same frames). Frames are decoded with the shared codec; SENDs are
 * written from a per-pair template with the counter and the send time filled in
 * as ASCII digits; the receiver finds seq and stamp with two byte searches, never
 * JSON.parse, and acknowledges cumulatively once per read (PUSH_ACK {upTo}).
 */
import { mintToken } from '../../../src/auth/token.factory';
import { DEV_JWT_SECRET } from '../../../src/config/config.constants';
import { MsgOp } from '../../../src/messaging/messaging.ops';
import {
  FrameDecoder,
  FrameError,
  FrameSink,
  encodeFrame,
  encodeJsonFrame,
} from '../../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../../src/transport/ops';
import { STAMP_DIGITS, nowUs, putDigits, readDigits, readUint } from '../ascii';
import { LocalEndpoint } from '../addresses';
import { Driver, IdleClient, LoadStats, PairClient, WindowedPair } from './driver';
import { TurnEnd, atTurnEnd, connectTcp, withTimeout } from './tcp';
import { Wire, connectWs } from './ws-wire';

const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const SEND_REPLY = (MsgOp.SEND | REPLY_FLAG) >>> 0;
const HEARTBEAT = encodeFrame(Op.HEARTBEAT, 2);
const SEQ_KEY = Buffer.from('"seq":');
const CONTENT_KEY = Buffer.from('"content":"');
const MAX_FRAME = 1 << 24;
const COUNTER_DIGITS = 12;
const LOGIN_TIMEOUT_MS = 30_000;

/** Hands frames to whoever holds the connection now: the login step, then the client. */
class Link implements FrameSink {
  readonly decoder = new FrameDecoder(this, MAX_FRAME);
  wire!: Wire;
  onFrame: (op: number, seq: number, body: Buffer) => void = () => undefined;
  /** Called after each read was decoded. */
  afterRead: () => void = () => undefined;
  readonly onRead = (chunk: Buffer): void => {
    this.decoder.push(chunk);
    this.afterRead();
  };

  constructor(private readonly stats: LoadStats) {}

  onFrameError(error: FrameError): void {
    this.stats.error(`frame: ${error.code}`);
    this.wire.destroy();
  }
}

/** The same frames over TCP, or over WebSocket (one frame per message) to the HTTP port's /ws. */
export type LonglinkWire = 'tcp' | 'ws';

async function dial(
  wire: LonglinkWire,
  port: number,
  local: LocalEndpoint | undefined,
  link: Link,
): Promise<Wire> {
  if (wire === 'ws') return connectWs(port, local, link);
  const socket = await connectTcp(port, local, link);
  return {
    write: (bytes) => void socket.write(bytes),
    destroy: () => socket.destroy(),
    onClose: (fn) => void socket.once('close', fn),
  };
}

export class LonglinkDriver implements Driver {
  readonly protocol: 'longlink' | 'longlink-ws';
  /** Minted once per uid for the whole run, whichever server is measured. */
  private static readonly tokens = new Map<string, string>();
  private readonly tokens = LonglinkDriver.tokens;

  /** Receivers of pairs log in on `rxPort` (another cluster node), senders on `port`. */
  constructor(
    private readonly port: number,
    private readonly stats: LoadStats,
    private readonly rxPort = port,
    private readonly wire: LonglinkWire = 'tcp',
  ) {
    this.protocol = wire === 'ws' ? 'longlink-ws' : 'longlink';
  }

  async prepare(uids: string[]): Promise<number> {
    const t0 = performance.now();
    for (const uid of uids) {
      if (!this.tokens.has(uid))
        this.tokens.set(uid, await mintToken(uid, { secret: DEV_JWT_SECRET, expiresIn: '12h' }));
    }
    return performance.now() - t0;
  }

  private async login(uid: string, local: LocalEndpoint | undefined, port: number): Promise<Link> {
    await this.prepare([uid]);
    const link = new Link(this.stats);
    const socket = await dial(this.wire, port, local, link);
    link.wire = socket;
    const answered = new Promise<void>((resolve, reject) => {
      link.onFrame = (op, seq, body) => {
        if (seq !== 1) return;
        if (op === LOGIN_REPLY) resolve();
        else reject(new Error(`LOGIN refused: op ${op} ${body.toString()}`));
      };
      socket.onClose(() => reject(new Error('closed before the LOGIN reply')));
    });
    socket.write(encodeJsonFrame(Op.LOGIN, 1, { token: this.tokens.get(uid) }));
    try {
      await withTimeout(answered, LOGIN_TIMEOUT_MS, 'LOGIN');
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return link;
  }

  async idle(uid: string, local: LocalEndpoint | undefined, port = this.port): Promise<IdleClient> {
    const link = await this.login(uid, local, port);
    const stats = this.stats;
    let closing = false;
    link.onFrame = (op) => {
      if (op === HEARTBEAT_REPLY) stats.heartbeatReplies++;
      else if (op === Op.KICK) stats.kicks++;
    };
    link.wire.onClose(() => {
      if (!closing) stats.dropped++;
    });
    return {
      heartbeat: () => {
        stats.heartbeatsSent++;
        link.wire.write(HEARTBEAT);
      },
      close: () => {
        closing = true;
        link.wire.destroy();
      },
    };
  }

  async pair(index: number): Promise<PairClient> {
    const rx = await this.login(`rx-${index}`, undefined, this.rxPort);
    const tx = await this.login(`tx-${index}`, undefined, this.port);
    return new LonglinkPair(tx, rx, `rx-${index}`, this.stats);
  }
}

class LonglinkPair extends WindowedPair implements TurnEnd {
  turnQueued = false;
  private readonly template: Buffer;
  private readonly counterOffset: number;
  private readonly stampOffset: number;
  private counter = 0;
  private maxSeq = 0;
  private ackedUpTo = 0;
  private ackSeq = 0;

  constructor(
    private readonly tx: Link,
    private readonly rx: Link,
    to: string,
    stats: LoadStats,
  ) {
    super(stats);
    const head = `{"to":"${to}","clientMsgId":"`;
    const mid = '","content":"';
    const body = head + '0'.repeat(COUNTER_DIGITS) + mid + '0'.repeat(STAMP_DIGITS) + '"}';
    this.template = encodeFrame(MsgOp.SEND, 1, body);
    this.counterOffset = 16 + head.length;
    this.stampOffset = this.counterOffset + COUNTER_DIGITS + mid.length;
    tx.onFrame = (op, _seq, body) => this.onTx(op, body);
    rx.onFrame = (op, _seq, body) => this.onRx(op, body);
    tx.afterRead = () => atTurnEnd(this);
    rx.afterRead = () => atTurnEnd(this);
    for (const link of [tx, rx]) {
      link.wire.onClose(() => {
        if (!this.closing) stats.dropped++;
      });
    }
  }

  private onTx(op: number, body: Buffer): void {
    if (op === SEND_REPLY) {
      this.acked++;
      this.stats.sendAcks++;
    } else if (op === Op.ERROR) {
      this.acked++; // answered, so it leaves the window; counted as an error
      this.stats.error(`SEND: ${body.toString()}`);
    } else if (op === Op.KICK) {
      this.stats.kicks++;
      this.stats.error(`KICK: ${body.toString()}`);
    }
  }

  private onRx(op: number, body: Buffer): void {
    if (op === MsgOp.MSG) {
      const s = body.indexOf(SEQ_KEY);
      const seq = readUint(body, s + SEQ_KEY.length);
      if (seq <= this.maxSeq) {
        this.stats.dups++;
        return;
      }
      this.maxSeq = seq;
      this.delivered++;
      this.stats.delivered++;
      if (this.stats.recording) {
        const c = body.indexOf(CONTENT_KEY);
        this.stats.latency(nowUs() - readDigits(body, c + CONTENT_KEY.length, STAMP_DIGITS));
      }
    } else if (op === Op.ERROR) {
      this.stats.error(`receiver: ${body.toString()}`);
    } else if (op === Op.KICK) {
      this.stats.kicks++;
      this.stats.error(`KICK: ${body.toString()}`);
    }
  }

  /** After this turn's reads: one cumulative PUSH_ACK, then refill the window. */
  endTurn(): void {
    if (this.maxSeq > this.ackedUpTo) {
      this.ackedUpTo = this.maxSeq;
      this.ackSeq = (this.ackSeq % 0x7fff_fffe) + 1;
      this.rx.wire.write(encodeFrame(MsgOp.PUSH_ACK, this.ackSeq, `{"upTo":${this.maxSeq}}`));
    }
    this.refill();
  }

  protected writeMessages(count: number): void {
    const t = this.template;
    const len = t.length;
    const buf = Buffer.allocUnsafe(count * len);
    const stamp = nowUs();
    for (let m = 0, off = 0; m < count; m++, off += len) {
      buf.set(t, off);
      const n = ++this.counter;
      buf.writeUInt32BE(((n - 1) % 0x7fff_fffe) + 1, off + 12);
      putDigits(buf, off + this.counterOffset, COUNTER_DIGITS, n);
      putDigits(buf, off + this.stampOffset, STAMP_DIGITS, stamp);
    }
    this.tx.wire.write(buf);
  }

  protected closeConnections(): void {
    this.tx.wire.destroy();
    this.rx.wire.destroy();
  }
}
