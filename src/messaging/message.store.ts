import {
  AppendOutcome,
  AppendResult,
  MessageQuotas,
  NewMessage,
  StoredMessage,
} from './message.types.js';

/** Injection token for the MessageStore implementation. */
export const MESSAGE_STORE = Symbol('MESSAGE_STORE');

/**
 * Where messages live until delivered. Narrow on purpose, so that a store shared
 * by several nodes (PostgreSQL) can implement it: every call is async, a batch
 * append is one transaction, and inbox sequences are assigned by the store.
 */
export interface MessageStore {
  /** Creates or migrates the schema. */
  open(): Promise<void>;
  /**
   * Appends a batch in one transaction, in order. Each message gets a msgId and
   * the next seq of its recipient's inbox, unless (from, clientMsgId) is already
   * stored: then the stored record comes back with duplicate = true. Resolves only
   * once the batch is durable.
   *
   * With `quotas`, a new message that would exceed one comes back as an AppendRefusal
   * instead: nothing stored, no seq taken, nothing counted; the rest of the batch goes on.
   * Duplicates are never refused nor counted again. The check and the append are one
   * transaction, so concurrent appends (other nodes) cannot together exceed a limit.
   * Whatever `quotas` says, the store keeps each inbox's unacknowledged count and bytes
   * (append adds, ack and the pruning of unacknowledged messages subtract), so a limit
   * turned on later counts what is already waiting.
   */
  append(batch: readonly NewMessage[]): Promise<AppendResult[]>;
  append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]>;
  /** Messages of `uid`'s inbox with seq > afterSeq, ascending, at most `limit`. */
  fetch(uid: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /** The newest seq of `uid`'s inbox (0 when empty). */
  lastSeq(uid: string): Promise<number>;
  /** The highest seq the user acknowledged (0 when none). */
  ackedSeq(uid: string): Promise<number>;
  /** Records, per uid, that the user holds everything up to seq (never moves backwards); one transaction. */
  ack(acks: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Drops delivered messages older than deliveredBefore and any older than
   * undeliveredBefore, at most `limit` of them; returns how many.
   * Fewer than `limit` means nothing more is due.
   */
  prune(deliveredBefore: number, undeliveredBefore: number, limit: number): Promise<number>;
  /** Resolves when the store can serve requests now (for /readyz); rejects with why not. */
  check(): Promise<void>;
  close(): Promise<void>;
}
