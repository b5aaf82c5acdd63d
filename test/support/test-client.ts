import { Socket, connect } from 'node:net';
import {
  FrameDecoder,
  FrameError,
  encodeFrame,
  encodeJsonFrame,
} from '../../src/transport/frame.codec';
import { FrameClient, ReceivedFrame } from './frame-client';

export type { ReceivedFrame };

/**
 * A bare protocol client for end-to-end specs: written against docs/PROTOCOL.md,
 * it sends raw frames and records everything it receives.
 */
export class TestClient extends FrameClient {
  readonly closed: Promise<void>;
  isClosed = false;
  private readonly decoder: FrameDecoder;

  private constructor(readonly socket: Socket) {
    super();
    this.decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => this.record(op, seq, Buffer.from(body)),
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

  protected write(frame: Buffer): void {
    this.socket.write(frame);
  }

  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
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
}

export { encodeFrame, encodeJsonFrame };
