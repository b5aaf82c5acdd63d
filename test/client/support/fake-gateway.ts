import { Server, Socket, createServer } from 'node:net';
import { FrameDecoder, encodeJsonFrame } from '../../../src/transport/frame.codec';
import { REPLY_FLAG } from '../../../src/transport/ops';

export interface FakeRequest {
  op: number;
  seq: number;
  body: unknown;
  socket: Socket;
}

/**
 * A scripted server speaking the frame format and nothing else: the spec decides, per request,
 * whether and how to answer. For what the real gateway never does (stay silent).
 */
export class FakeGateway {
  readonly requests: FakeRequest[] = [];
  readonly sockets: Socket[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(handle: (request: FakeRequest, gateway: FakeGateway) => void): Promise<FakeGateway> {
    return new Promise((resolve) => {
      let gateway: FakeGateway;
      const server = createServer((socket) => {
        gateway.sockets.push(socket);
        socket.on('error', () => undefined);
        const decoder = new FrameDecoder(
          {
            onFrame: (op, seq, raw) => {
              const body: unknown = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
              const request = { op, seq, body, socket };
              gateway.requests.push(request);
              handle(request, gateway);
            },
            onFrameError: () => socket.destroy(),
          },
          1 << 20,
        );
        socket.on('data', (chunk) => decoder.push(chunk));
      });
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        gateway = new FakeGateway(
          server,
          typeof address === 'object' && address ? address.port : 0,
        );
        resolve(gateway);
      });
    });
  }

  reply(request: FakeRequest, body?: unknown): void {
    request.socket.write(encodeJsonFrame((request.op | REPLY_FLAG) >>> 0, request.seq, body));
  }

  async token(): Promise<string> {
    return 'fake-token';
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A LOGIN reply body. */
export function loginReply(uid: string, heartbeatIntervalMs = 30_000, heartbeatTimeoutMs = 90_000) {
  return { uid, heartbeatIntervalMs, heartbeatTimeoutMs, serverTimeMs: Date.now() };
}
