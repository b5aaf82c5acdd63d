import { type ConnectionOptions, connect } from 'node:tls';
import type { ByteTransport, ByteTransportHandlers, TransportFactory } from './byte-transport.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import {
  SocketTransport,
  type TcpTransportOptions,
  cannotConnect,
  formatAddress,
} from './tcp.transport.js';

/** How the server's certificate is checked. */
export interface TlsOptions {
  /** PEM certificate(s) to trust instead of the system's CAs: a private CA, a self-signed server. */
  ca?: string | Buffer;
  /** The name the certificate must carry (also sent as SNI). Default: the host. */
  servername?: string;
  /**
   * Default true. False accepts any certificate: the link is encrypted but the server is not
   * authenticated, so anyone in the path can pose as it. For experiments only.
   */
  rejectUnauthorized?: boolean;
}

export interface TlsTransportOptions extends TcpTransportOptions, TlsOptions {}

/**
 * TCP with TLS on top, for a gateway with `server.tls` set. Same stream as tcpTransport once the
 * handshake is done; connectTimeoutMs covers the TCP connect and the handshake together.
 */
export function tlsTransport(options: TlsTransportOptions): TransportFactory {
  return (handlers) => openTls(options, handlers);
}

function openTls(
  options: TlsTransportOptions,
  handlers: ByteTransportHandlers,
): Promise<ByteTransport> {
  const { host, port, connectTimeoutMs, ca, servername, rejectUnauthorized = true } = options;
  const address = formatAddress(host, port);
  const tlsOptions: ConnectionOptions = { host, port, rejectUnauthorized };
  // Only when given: Node derives the checked name from `host` when servername is absent.
  if (ca !== undefined) tlsOptions.ca = ca;
  if (servername !== undefined) tlsOptions.servername = servername;
  return new Promise((resolve, reject) => {
    const socket = connect(tlsOptions);
    let connected = false; // TCP is up: what fails from here on is the handshake
    let settled = false;
    const timer = setTimeout(() => {
      socket.destroy(
        new Error(`no ${connected ? 'TLS handshake' : 'answer'} within ${connectTimeoutMs} ms`),
      );
    }, connectTimeoutMs);
    const failed = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(connected ? tlsFailure(error) : cannotConnect(address, error));
    };
    const closedEarly = () => failed(new Error('the server closed the connection'));
    socket.once('connect', () => {
      connected = true;
      socket.setNoDelay(true);
    });
    socket.on('error', failed);
    socket.once('close', closedEarly);
    socket.once('secureConnect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', failed);
      socket.off('close', closedEarly);
      resolve(SocketTransport.wire(socket, handlers));
    });
  });
}

/** `tls: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`: one line, Node's code kept. */
function tlsFailure(error: Error): LonglinkClientError {
  const code = (error as NodeJS.ErrnoException).code;
  return new LonglinkClientError(
    ClientErrorCode.Tls,
    `tls: ${reasonOf(error, code)}${code ? ` (${code})` : ''}`,
    false,
    error,
  );
}

function reasonOf(error: Error, code: string | undefined): string {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return 'the server does not speak TLS';
  if (code === 'ECONNRESET') return 'the server closed the connection during the handshake';
  // OpenSSL's own text is `…:error:0A00010B:SSL routines:<function>:<reason>:<file>:<line>:`.
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(error.message);
  return openssl?.[1] ?? error.message.trim();
}
