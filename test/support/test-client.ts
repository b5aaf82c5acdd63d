import { Socket, connect } from 'node:net';
import {
  FrameDecoder,
  FrameError,
  encodeFrame,
  encodeJsonFrame,
} from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';

export interface ReceivedFrame {
  op: number;
  seq: number;
  body: any;
  raw: Buffer;
}

/**
 * A bare protocol client for end-to-end specs: written against docs/PROTOCOL.md,
 * it sends raw frames and records everything it receives.
 */
export class TestClient {
  readonly frames: ReceivedFrame[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private nextSeq = 1;
  private waiters: { match: (f: ReceivedFrame) => boolean; resolve: (f: ReceivedFrame) => void }[] =
    [];
  private readonly decoder: FrameDecoder;

  private constructor(readonly socket: Socket) {
    this.decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => this.receive(op, seq, Buffer.from(body)),
        onFrameError: (err: FrameError) => {
          throw err;
        },
      },
      16 * 1024 * 1024,
    );
    socket.on('data', (chunk) => this.decoder.push(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /** `localAddress`: the source address (any of 127.0.0.0/8 on Linux), for per-IP limits. */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress, noDelay: true });
      socket.once('connect', () => resolve(new TestClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a frame with a JSON body; returns its seq. */
  send(op: number, body?: unknown, seq = this.nextSeq++): number {
    this.socket.write(encodeJsonFrame(op, seq, body));
    return seq;
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Sends a request and resolves with its reply or ERROR (same seq). */
  request(op: number, body?: unknown, timeoutMs = 3000): Promise<ReceivedFrame> {
    const seq = this.send(op, body);
    return this.waitFor(
      (f) => f.seq === seq && (f.op === (op | REPLY_FLAG) >>> 0 || f.op === Op.ERROR),
      timeoutMs,
    );
  }

  login(token: string): Promise<ReceivedFrame> {
    return this.request(Op.LOGIN, { token });
  }

  waitFor(match: (f: ReceivedFrame) => boolean, timeoutMs = 3000): Promise<ReceivedFrame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  waitForOp(op: number, timeoutMs = 3000): Promise<ReceivedFrame> {
    return this.waitFor((f) => f.op === op, timeoutMs);
  }

  /** Resolves when the server closes the connection; rejects after timeoutMs. */
  waitClosed(timeoutMs = 3000): Promise<void> {
    return Promise.race([
      this.closed,
      new Promise<void>((_, reject) =>
        setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(op: number, seq: number, raw: Buffer): void {
    const body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    const frame = { op, seq, body, raw };
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }
}

export { encodeFrame, encodeJsonFrame };
