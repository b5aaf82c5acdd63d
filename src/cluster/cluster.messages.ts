import { StoredMessage } from '../messaging/message.types.js';

/**
 * What one node tells another on the receiver's own channel. Hints, never the
 * truth: a lost one costs latency (the store still has the message), not data.
 */
export type NodeMessage =
  /** A message stored for a user this node holds: push it. */
  | { t: 'msg'; m: StoredMessage }
  /**
   * End the session of `uid`. With an epoch: only a session older than it
   * (relogin on another node); without: whatever session it has (an application kick).
   */
  | { t: 'kick'; uid: string; epoch?: number; reason: string; message: string }
  /** SessionService.push for a user this node holds; body is JSON text. */
  | { t: 'push'; uid: string; op: number; body?: string };

/** A ban made on one node, for every node's accept check. */
export interface BanMessage {
  address: string;
  untilMs: number;
  /** The node that made it (it ignores its own). */
  node: string;
}
