/** A message waiting in the outbox: what is needed to send it again, from any client instance. */
export interface OutboxEntry {
  /** The id the server dedupes on (with the sender): resending it is stored once. */
  clientMsgId: string;
  to: string;
  /** Any JSON value. */
  content: unknown;
  /** When send() was called, ms since the epoch. */
  queuedAt: number;
}

/**
 * Where the outbox keeps the messages not acknowledged yet, so a restarted app sends what was
 * pending (docs/CLIENT.md, "The outbox"). save() gets the whole list, in send order, after every
 * change, one call at a time and always the newest list; load() is called by connect().
 */
export interface OutboxStore {
  load(): readonly OutboxEntry[] | Promise<readonly OutboxEntry[]>;
  save(entries: readonly OutboxEntry[]): void | Promise<void>;
}
