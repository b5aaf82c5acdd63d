import { Socket, connect, isIPv6 } from 'node:net';
import type { ByteTransport, ByteTransportHandlers, TransportFactory } from './byte-transport.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Gives up on a connect after this long (ms): a SYN into a black hole can hang for minutes. */
  connectTimeoutMs: number;
}

/** How long end() waits for the server to close its side before dropping the socket (ms). */
const END_GRACE_MS = 1000;

/** `host:port`, with IPv6 hosts bracketed. */
export function formatAddress(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}

/** The Node byte stream: one TCP connection, Nagle off (PDUs are small and latency-bound). */
export function tcpTransport(options: TcpTransportOptions): TransportFactory {
  return (handlers) => openTcp(options, handlers);
}

function openTcp(
  options: TcpTransportOptions,
  handlers: ByteTransportHandlers,
): Promise<ByteTransport> {
  const address = formatAddress(options.host, options.port);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.host, port: options.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy(new Error(`no answer within ${options.connectTimeoutMs} ms`));
    }, options.connectTimeoutMs);
    const failed = (error: Error) => {
      clearTimeout(timer);
      reject(cannotConnect(address, error));
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve(SocketTransport.wire(socket, handlers));
    });
  });
}

/** A connected socket as a ByteTransport: plain TCP, or TLS (a TLSSocket is a Socket). */
export class SocketTransport implements ByteTransport {
  private corked = false;

  private constructor(private readonly socket: Socket) {}

  /** Hands the socket's bytes and its end to `handlers`; call once it is connected. */
  static wire(socket: Socket, handlers: ByteTransportHandlers): SocketTransport {
    let closeError: Error | undefined;
    socket.on('data', (chunk: Buffer) => handlers.onData(chunk));
    socket.on('error', (error) => (closeError = error));
    socket.once('close', () => handlers.onClose(closeError));
    return new SocketTransport(socket);
  }

  write(bytes: Buffer): void {
    if (this.socket.destroyed) return;
    // Frames written in one turn leave in one segment, as the server does for its replies.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  end(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** `cannot connect to 127.0.0.1:7400 (connection refused)`. */
export function cannotConnect(address: string, error: Error): LonglinkClientError {
  return new LonglinkClientError(
    ClientErrorCode.CannotConnect,
    `cannot connect to ${address} (${describe(error)})`,
  );
}

function describe(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'unknown host';
  return code ?? error.message;
}
