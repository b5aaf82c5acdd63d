import { Socket } from 'node:net';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op } from '../../src/transport/ops';
import { openSocket } from './open-socket';
import { until } from './wait';

/** One frame the gateway sent: its op and seq, and the code of an ERROR or KICK. */
export interface RawFrame {
  op: number;
  seq: number;
  code?: string;
}

const CONNECT_TIMEOUT_MS = 5000;

/**
 * A raw TCP peer from a chosen local (127.0.0.x) address that records what the gateway
 * sends: every frame, every byte (0 after a close means it was refused unread), and the
 * close. Specs extend it with checks of their own.
 */
export class RawPeer {
  readonly frames: RawFrame[] = [];
  bytes = 0;
  closed = false;
  /** Resolves once the socket has closed. */
  readonly done: Promise<void>;
  private seq = 0;

  constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => {
          const code =
            op === Op.ERROR || op === Op.KICK ? JSON.parse(body.toString()).code : undefined;
          this.frames.push({ op, seq, code });
        },
        onFrameError: (err) => {
          throw err;
        },
      },
      1 << 20,
    );
    socket.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      decoder.push(chunk);
    });
    socket.on('error', () => undefined);
    this.done = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  /**
   * Connects to 127.0.0.1:`port` from `from` (Nagle off); writes `first` (a PROXY header,
   * say) as soon as it is connected, when given.
   */
  static async open<P extends RawPeer>(
    this: new (socket: Socket) => P,
    port: number,
    from: string,
    first?: Buffer,
  ): Promise<P> {
    const peer = new this(await openSocket({ port, localAddress: from }, CONNECT_TIMEOUT_MS));
    if (first) peer.socket.write(first);
    return peer;
  }

  /** Sends a request; resolves with its answer, or undefined if the connection closed first. */
  async request(op: number, body?: unknown, timeoutMs?: number): Promise<RawFrame | undefined> {
    const seq = ++this.seq;
    this.socket.write(body === undefined ? encodeFrame(op, seq) : encodeJsonFrame(op, seq, body));
    await until(
      () => this.closed || this.frames.some((f) => f.seq === seq),
      `the answer to op ${op} (seq ${seq})`,
      timeoutMs,
    );
    return this.frames.find((f) => f.seq === seq);
  }

  /** Sends LOGIN {token}; resolves as request does. */
  login(token: string, timeoutMs?: number): Promise<RawFrame | undefined> {
    return this.request(Op.LOGIN, { token }, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
