import { ClientOptions, WebSocket } from 'ws';
import { encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { ReceivedFrame } from './test-client';

/** How the server closed a WebSocket: the close frame's code and reason (1006: no close frame). */
export interface WsClosed {
  code: number;
  reason: string;
}

/**
 * A bare WebSocket protocol client for end-to-end specs (docs/PROTOCOL.md,
 * WebSocket): one frame per binary message each way; records every frame.
 */
export class WsTestClient {
  readonly frames: ReceivedFrame[] = [];
  /** Messages received that were not exactly one frame (the server must never send one). */
  readonly badMessages: Buffer[] = [];
  readonly closed: Promise<WsClosed>;
  isClosed = false;
  private nextSeq = 1;
  private waiters: { match: (f: ReceivedFrame) => boolean; resolve: (f: ReceivedFrame) => void }[] =
    [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        this.isClosed = true;
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  /** Opens `url` (ws:// or wss://); rejects with the HTTP status when the upgrade is refused. */
  static connect(
    url: string,
    options: ClientOptions = {},
    protocols: string[] = [],
  ): Promise<WsTestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      ws.once('open', () => resolve(new WsTestClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        reject(new RefusedUpgrade(res.statusCode ?? 0));
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  /** The HTTP status an upgrade of `url` is refused with (fails when it is accepted). */
  static async refusal(url: string, options: ClientOptions = {}): Promise<number> {
    try {
      const c = await WsTestClient.connect(url, options);
      c.close();
    } catch (err) {
      if (err instanceof RefusedUpgrade) return err.status;
      throw err;
    }
    throw new Error(`upgrade of ${url} was accepted`);
  }

  /** Sends a frame with a JSON body as one binary message; returns its seq. */
  send(op: number, body?: unknown, seq = this.nextSeq++): number {
    this.ws.send(encodeJsonFrame(op, seq, body), { binary: true });
    return seq;
  }

  /** One message with these exact bytes (binary unless a string). */
  sendRaw(bytes: Buffer | string): void {
    this.ws.send(bytes, { binary: typeof bytes !== 'string' });
  }

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

  /** Resolves with the close code and reason; rejects after timeoutMs. */
  waitClosed(timeoutMs = 3000): Promise<WsClosed> {
    return Promise.race([
      this.closed,
      new Promise<WsClosed>((_, reject) =>
        setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  close(): void {
    this.ws.terminate();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (!isBinary || data.length < 16 || data.readUInt32BE(0) !== data.length) {
      this.badMessages.push(data);
      return;
    }
    const raw = Buffer.from(data.subarray(16));
    const frame = {
      op: data.readUInt32BE(8),
      seq: data.readUInt32BE(12),
      body: raw.length ? JSON.parse(raw.toString('utf8')) : undefined,
      raw,
    };
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }
}

/** An upgrade answered with an HTTP status instead of 101. */
export class RefusedUpgrade extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}
