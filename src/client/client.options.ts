import type { TransportFactory } from './byte-transport.js';
import type { LastSeqStore } from './last-seq.store.js';
import { MemoryLastSeqStore } from './memory-last-seq.store.js';
import { MemoryOutboxStore } from './memory-outbox.store.js';
import type { OutboxStore } from './outbox.store.js';
import { type BackoffOptions, DEFAULT_BACKOFF } from './reconnect-backoff.js';
// A type only (erased): the browser graph must not reach node:tls.
import type { TlsOptions } from './tls.transport.js';

/** A login token, or a function returning one: called before every (re)login, so it may refresh. */
export type TokenSource = string | (() => string | Promise<string>);

/** Where unacknowledged messages wait (docs/CLIENT.md, "The outbox"). */
export interface OutboxOptions {
  /** Default 1000: messages waiting for their acknowledgement; past it send() fails `outbox-full`. */
  maxMessages?: number;
  /** Default: a MemoryOutboxStore of this client. Persist it to resend after a restart. */
  store?: OutboxStore;
}

/** The options of every LonglinkClient, whatever carries its bytes. */
export interface ClientCoreOptions {
  token: TokenSource;
  /** Opens the byte stream instead of the entry's default (a WebSocket transport, a test double). */
  transport?: TransportFactory;
  /**
   * Default 10000 ms: the reply timeout of LOGIN, SYNC and request(). send() has none of its own
   * (it waits through outages; give it `timeoutMs` to bound it).
   */
  requestTimeoutMs?: number;
  /** Default 5000 ms: gives up on opening the byte stream (TCP connect, TLS or WebSocket handshake). */
  connectTimeoutMs?: number;
  /** Default true (DEFAULT_BACKOFF); false: a lost connection closes the client. */
  reconnect?: boolean | Partial<BackoffOptions>;
  /** Default true: acknowledge a message when its listener returns. False: call ack(seq). */
  autoAck?: boolean;
  /** Default: a MemoryLastSeqStore of this client. */
  lastSeqStore?: LastSeqStore;
  /** Default 1000: msgIds remembered to drop messages pushed twice. */
  dedupeWindow?: number;
  /** Default 16 MiB: the server does not bound its own frames, so accept large pushes. */
  maxFrameBytes?: number;
  outbox?: OutboxOptions;
}

/** The Node client's options (`longlink/client`): TCP or TLS to host:port by default. */
export interface LonglinkClientOptions extends ClientCoreOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 7400. */
  port?: number;
  /**
   * TLS to host:port (a gateway with `server.tls`). true: the certificate is checked against the
   * system's CAs; or give `ca` (a private CA, a self-signed server), `servername`. Default off.
   */
  tls?: boolean | TlsOptions;
}

export interface ResolvedClientOptions {
  token: TokenSource;
  transport: TransportFactory;
  requestTimeoutMs: number;
  reconnect: BackoffOptions | null;
  autoAck: boolean;
  lastSeqStore: LastSeqStore;
  dedupeWindow: number;
  maxFrameBytes: number;
  outbox: Required<OutboxOptions>;
}

export const CLIENT_DEFAULTS = {
  host: '127.0.0.1',
  port: 7400,
  requestTimeoutMs: 10_000, // long enough for a durable SQLite commit under load
  connectTimeoutMs: 5_000, // a reachable gateway answers a SYN in milliseconds
  dedupeWindow: 1_000, // far more than the server's push window (64)
  maxFrameBytes: 16 * 1024 * 1024,
  outboxMaxMessages: 1_000, // a few seconds of sending at the default pace (180/s)
} as const;

/** Fills in the defaults; `defaultTransport` is called only when no `transport` is given. */
export function resolveClientOptions(
  options: ClientCoreOptions,
  defaultTransport: () => TransportFactory,
): ResolvedClientOptions {
  const reconnect = options.reconnect ?? true;
  return {
    token: options.token,
    transport: options.transport ?? defaultTransport(),
    requestTimeoutMs: options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs,
    reconnect:
      reconnect === false ? null : { ...DEFAULT_BACKOFF, ...(reconnect === true ? {} : reconnect) },
    autoAck: options.autoAck ?? true,
    lastSeqStore: options.lastSeqStore ?? new MemoryLastSeqStore(),
    dedupeWindow: options.dedupeWindow ?? CLIENT_DEFAULTS.dedupeWindow,
    maxFrameBytes: options.maxFrameBytes ?? CLIENT_DEFAULTS.maxFrameBytes,
    outbox: {
      maxMessages: options.outbox?.maxMessages ?? CLIENT_DEFAULTS.outboxMaxMessages,
      store: options.outbox?.store ?? new MemoryOutboxStore(),
    },
  };
}
