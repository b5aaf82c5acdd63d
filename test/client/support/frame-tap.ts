import type { ByteTransport, TransportFactory } from '../../../src/client/byte-transport';
import { tcpTransport } from '../../../src/client/tcp.transport';
import { FrameDecoder } from '../../../src/transport/frame.codec';

export interface TappedFrame {
  op: number;
  seq: number;
  body: any;
  at: number;
}

/** `stamp()`: when the chunk being decoded was seen (read before decoding costs anything). */
function decoder(into: TappedFrame[], stamp: () => number): FrameDecoder {
  return new FrameDecoder(
    {
      onFrame: (op, seq, raw) =>
        void into.push({
          op,
          seq,
          body: raw.length ? JSON.parse(raw.toString('utf8')) : undefined,
          at: stamp(),
        }),
      onFrameError: (error) => {
        throw error;
      },
    },
    1 << 24,
  );
}

/**
 * TCP to the gateway, with every frame the client writes and receives decoded and kept, and a
 * way to write raw frames on the client's connection (to use up its rate-limit window).
 */
export class FrameTap {
  readonly written: TappedFrame[] = [];
  readonly received: TappedFrame[] = [];
  private current: ByteTransport | undefined;

  constructor(private readonly port: number) {}

  readonly factory: TransportFactory = async (handlers) => {
    let writtenAt = 0;
    let receivedAt = 0;
    const out = decoder(this.written, () => writtenAt);
    const inbound = decoder(this.received, () => receivedAt);
    const tcp = await tcpTransport({ host: '127.0.0.1', port: this.port, connectTimeoutMs: 1000 })({
      onData: (chunk) => {
        receivedAt = Date.now();
        inbound.push(chunk);
        handlers.onData(chunk);
      },
      onClose: (error) => handlers.onClose(error),
    });
    this.current = {
      write: (bytes) => {
        writtenAt = Date.now();
        out.push(bytes);
        tcp.write(bytes);
      },
      end: () => tcp.end(),
      destroy: () => tcp.destroy(),
    };
    return this.current;
  };

  /** Bytes on the current connection that the client does not know about. */
  writeRaw(bytes: Buffer): void {
    this.current?.write(bytes);
  }

  writtenOps(op: number): TappedFrame[] {
    return this.written.filter((f) => f.op === op);
  }

  receivedOps(op: number): TappedFrame[] {
    return this.received.filter((f) => f.op === op);
  }
}
