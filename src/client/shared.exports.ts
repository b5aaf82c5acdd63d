/**
 * The API both entries export (index.ts for Node, browser.ts for bundlers and the gateway's
 * /longlink-client.js): everything but LonglinkClient itself and the Node-only transports.
 */
export { LonglinkClientBase } from './longlink-client.base.js';
export type { ClientState, RequestOptions, SendOptions } from './longlink-client.base.js';
export { CLIENT_DEFAULTS } from './client.options.js';
export type { ClientCoreOptions, OutboxOptions, TokenSource } from './client.options.js';
export type {
  ClientEvents,
  CloseEvent,
  DisconnectEvent,
  KickEvent,
  OutboxEvent,
  ReconnectAdvisedEvent,
  ReconnectEvent,
  ReconnectingEvent,
} from './client.events.js';
export type { InboxMessage, SendAck, ServerLimits, SessionInfo } from './server-bodies.js';
export { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
export type { LastSeqStore } from './last-seq.store.js';
export { MemoryLastSeqStore } from './memory-last-seq.store.js';
export { LocalStorageLastSeqStore } from './local-storage-last-seq.store.js';
export type { StorageLike } from './local-storage-last-seq.store.js';
export type { OutboxEntry, OutboxStore } from './outbox.store.js';
export { MemoryOutboxStore } from './memory-outbox.store.js';
export { LocalStorageOutboxStore } from './local-storage-outbox.store.js';
export { PACING_SHARE, paceBudget } from './frame-pacer.js';
export type { PaceBudget } from './frame-pacer.js';
export { MAX_RATE_LIMIT_RETRIES } from './rate-limit-retry.js';
export { DEFAULT_BACKOFF } from './reconnect-backoff.js';
export type { BackoffOptions } from './reconnect-backoff.js';
export type { ByteTransport, ByteTransportHandlers, TransportFactory } from './byte-transport.js';
export { webSocketTransport } from './websocket.transport.js';
export type {
  WebSocketConstructor,
  WebSocketLike,
  WebSocketTransportOptions,
} from './websocket.transport.js';
