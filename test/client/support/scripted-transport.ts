import type { ByteTransportHandlers, TransportFactory } from '../../../src/client/byte-transport';
import { FrameDecoder, encodeJsonFrame } from '../../../src/transport/frame.codec';
import { REPLY_FLAG } from '../../../src/transport/ops';

export interface SentFrame {
  op: number;
  seq: number;
  body: any;
}

/**
 * An in-memory transport: records the frames the client writes and lets a spec play the server,
 * byte for byte (several frames in one chunk, exactly as a socket read can deliver them).
 */
export class ScriptedTransport {
  readonly sent: SentFrame[] = [];
  connects = 0;
  /** Answers requests as they are written; default: nothing. */
  onRequest: (frame: SentFrame) => void = () => undefined;
  private handlers: ByteTransportHandlers | undefined;
  private readonly decoder = new FrameDecoder(
    {
      onFrame: (op, seq, raw) => {
        const frame = { op, seq, body: raw.length ? JSON.parse(raw.toString('utf8')) : undefined };
        this.sent.push(frame);
        this.onRequest(frame);
      },
      onFrameError: (error) => {
        throw error;
      },
    },
    1 << 20,
  );

  readonly factory: TransportFactory = async (handlers) => {
    this.connects++;
    this.handlers = handlers;
    return {
      write: (bytes) => this.decoder.push(bytes),
      end: () => this.drop(),
      destroy: () => this.drop(),
    };
  };

  /** Frames the client sent with this op. */
  sentOps(op: number): SentFrame[] {
    return this.sent.filter((f) => f.op === op);
  }

  /** Delivers server frames in one chunk. */
  deliver(...frames: Buffer[]): void {
    this.handlers?.onData(Buffer.concat(frames));
  }

  /** Delivers them one microtask later (after the client's current turn). */
  deliverSoon(...frames: Buffer[]): void {
    queueMicrotask(() => this.deliver(...frames));
  }

  drop(): void {
    const handlers = this.handlers;
    this.handlers = undefined;
    handlers?.onClose();
  }
}

export function reply(request: SentFrame, body?: unknown): Buffer {
  return encodeJsonFrame((request.op | REPLY_FLAG) >>> 0, request.seq, body);
}

export function push(op: number, body: unknown): Buffer {
  return encodeJsonFrame(op, 0, body);
}
