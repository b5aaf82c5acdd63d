import type { TransportFactory } from './byte-transport.js';
import { CLIENT_DEFAULTS, type LonglinkClientOptions } from './client.options.js';
import { LonglinkClientBase } from './longlink-client.base.js';
import { tcpTransport } from './tcp.transport.js';
import { tlsTransport } from './tls.transport.js';

export type { ClientState, RequestOptions, SendOptions } from './longlink-client.base.js';

/**
 * The Node client (`longlink/client`): a LonglinkClientBase whose default byte stream is TCP,
 * or TLS when `tls` is set, to host:port. The browser entry has its own, over a WebSocket.
 */
export class LonglinkClient extends LonglinkClientBase {
  constructor(options: LonglinkClientOptions) {
    super(options, () => nodeTransport(options));
  }
}

/** TCP, or TLS when `tls` is set, to host:port. */
function nodeTransport(options: LonglinkClientOptions): TransportFactory {
  const address = {
    host: options.host ?? CLIENT_DEFAULTS.host,
    port: options.port ?? CLIENT_DEFAULTS.port,
    connectTimeoutMs: options.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
  };
  const { tls = false } = options;
  if (tls === false) return tcpTransport(address);
  return tlsTransport(tls === true ? address : { ...tls, ...address });
}
