/**
 * The longlink client SDK (`longlink/client`), documented in docs/CLIENT.md. It shares the
 * frame codec and op numbers with the server and depends on nothing of Nest.
 */
export { LonglinkClient } from './longlink.client.js';
export type { ClientState, RequestOptions, SendOptions } from './longlink.client.js';
export { CLIENT_DEFAULTS } from './client.options.js';
export type { LonglinkClientOptions, TokenSource } from './client.options.js';
export type {
  ClientEvents,
  CloseEvent,
  DisconnectEvent,
  KickEvent,
  ReconnectAdvisedEvent,
  ReconnectEvent,
  ReconnectingEvent,
} from './client.events.js';
export type { InboxMessage, SessionInfo } from './server-bodies.js';
export { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
export type { LastSeqStore } from './last-seq.store.js';
export { MemoryLastSeqStore } from './memory-last-seq.store.js';
export { DEFAULT_BACKOFF } from './reconnect-backoff.js';
export type { BackoffOptions } from './reconnect-backoff.js';
export type { ByteTransport, ByteTransportHandlers, TransportFactory } from './byte-transport.js';
export { formatAddress, tcpTransport } from './tcp.transport.js';
export type { TcpTransportOptions } from './tcp.transport.js';
export { tlsTransport } from './tls.transport.js';
export type { TlsOptions, TlsTransportOptions } from './tls.transport.js';
