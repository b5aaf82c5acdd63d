import { ClientOptions, WebSocket } from 'ws';
import { FrameClient } from './frame-client';

/** How the server closed a WebSocket: the close frame's code and reason (1006: no close frame). */
export interface WsClosed {
  code: number;
  reason: string;
}

/**
 * A bare WebSocket protocol client for end-to-end specs (docs/PROTOCOL.md,
 * WebSocket): one frame per binary message each way; records every frame.
 */
export class WsTestClient extends FrameClient {
  /** Messages received that were not exactly one frame (the server must never send one). */
  readonly badMessages: Buffer[] = [];
  readonly closed: Promise<WsClosed>;
  isClosed = false;

  private constructor(readonly ws: WebSocket) {
    super();
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

  /** Each frame is one binary message. */
  protected write(frame: Buffer): void {
    this.ws.send(frame, { binary: true });
  }

  /** One message with these exact bytes (binary unless a string). */
  sendRaw(bytes: Buffer | string): void {
    this.ws.send(bytes, { binary: typeof bytes !== 'string' });
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
    this.record(data.readUInt32BE(8), data.readUInt32BE(12), Buffer.from(data.subarray(16)));
  }
}

/** An upgrade answered with an HTTP status instead of 101. */
export class RefusedUpgrade extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}
