import { Socket, connect } from 'node:net';

export interface OpenSocketOptions {
  port: number;
  host?: string;
  /** Source address (127.0.0.x), so per-IP limits apply to this client alone. */
  localAddress?: string;
}

/** Connects with Nagle off; rejects on a connect error or after timeoutMs. */
export function openSocket(options: OpenSocketOptions, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port: options.port,
      host: options.host ?? '127.0.0.1',
      localAddress: options.localAddress,
      noDelay: true,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
