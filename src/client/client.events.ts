import type { LonglinkClientError } from './longlink-client.error.js';
import type { OutboxEntry } from './outbox.store.js';
import type { InboxMessage, SendAck, SessionInfo } from './server-bodies.js';

/** A KICK (docs/PROTOCOL.md §4.4). */
export interface KickEvent {
  /** `relogin`, `heartbeat-timeout`, `rate-limited`, … or the application's own reason. */
  code: string;
  message: string;
  /** False for `relogin`: another login of this user won, and fighting back would kick it. */
  willReconnect: boolean;
}

/**
 * RECONNECT (op 6): the server is going away (`server-shutdown`) and asks to be reconnected to
 * no sooner than `afterMs` after it closes the connection, which it does once the requests in
 * flight are answered. The client honours it: the first attempt waits at least that long.
 */
export interface ReconnectAdvisedEvent {
  /** `server-shutdown`, or another reason of the server's. */
  reason: string;
  /** The least delay before the first reconnect attempt, counted from the close (ms). */
  afterMs: number;
  /** False when `reconnect` is off: the client will close with the connection. */
  willReconnect: boolean;
}

/** A logged-in connection was lost. */
export interface DisconnectEvent {
  /**
   * The KICK code, what ended the connection (`connection closed`, `heartbeat timeout`), or the
   * reason of a RECONNECT that came before the close (`server-shutdown`).
   */
  reason: string;
  willReconnect: boolean;
  /** Set after a RECONNECT: the first attempt waits at least this long (ms). */
  afterMs?: number;
}

/** A reconnect attempt is scheduled. */
export interface ReconnectingEvent {
  /** 1 for the first attempt after a disconnect. */
  attempt: number;
  delayMs: number;
  /** Why the previous attempt failed (absent before the first one). */
  error?: Error;
}

/** Logged in again (and synced). */
export interface ReconnectEvent {
  attempt: number;
  session: SessionInfo;
}

/** The client stopped for good: no more events, no reconnect. */
export interface CloseEvent {
  /**
   * `closed` after close(); a KICK code that forbids reconnecting (`relogin`); the error code of a
   * refused login (`invalid-token`, `access-denied`, …); or `disconnected` with reconnect off.
   */
  reason: string;
  message: string;
}

/**
 * A message of the outbox changed state (docs/CLIENT.md, "The outbox"). Every queued message
 * ends with exactly one `acknowledged` or `failed`; `sent` comes once per SEND written (again
 * after a reconnect). A send() refused at once (outbox full, too large) has only `failed`.
 */
export type OutboxEvent =
  | {
      state: 'queued';
      entry: OutboxEntry;
      /** True when it cannot go out at once: not connected (or the in-flight window is full). */
      waiting: boolean;
      /** True when connect() took it from the OutboxStore (no send() call waits for it). */
      restored: boolean;
    }
  | {
      state: 'sent';
      entry: OutboxEntry;
      /** 1, then 2… when resent after a reconnect. */ attempt: number;
    }
  | { state: 'acknowledged'; entry: OutboxEntry; ack: SendAck }
  | {
      state: 'failed';
      entry: OutboxEntry;
      /**
       * Why, for good: the server's code for this message (`bad-request`, `unknown-recipient`,
       * `rate-limited` after the retries, …), `relogin` or `access-denied` (the session is gone),
       * `outbox-full`, `message-too-large`, `timeout` (send()'s own timeoutMs), `closed`
       * (close()), or `disconnected` (reconnect off).
       */
      error: LonglinkClientError;
    };

/** The events of LonglinkClient and their listener arguments. */
export interface ClientEvents {
  /**
   * An inbox message, in seq order, each once. With autoAck (the default) it is acknowledged when
   * the listener returns, or when the promise it returns resolves.
   */
  message: [message: InboxMessage];
  /** An application push (op ≥ 1000). */
  push: [op: number, body: unknown];
  kick: [event: KickEvent];
  'reconnect-advised': [event: ReconnectAdvisedEvent];
  disconnect: [event: DisconnectEvent];
  reconnecting: [event: ReconnectingEvent];
  reconnect: [event: ReconnectEvent];
  close: [event: CloseEvent];
  outbox: [event: OutboxEvent];
  /**
   * Failures no call is waiting for: a message listener threw, the server refused a PUSH_ACK,
   * the LastSeqStore or OutboxStore failed. With no listener they are thrown, as node:events does.
   */
  error: [error: Error];
}
