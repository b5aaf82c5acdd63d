import { LonglinkConnection } from './connection.js';

/**
 * Checks that must act before Nest sees a PDU: at accept (before any byte is
 * read) and on every frame, including frames no handler claims. The guards
 * module registers its hooks here; Nest guards cover what handlers see.
 */
export interface TransportHooks {
  /** Return a refusal reason to drop the socket at accept, or null to let it in. */
  onAccept?(remoteAddress: string): string | null;
  /** Return false when the hook has answered or closed and the frame must go no further. */
  onFrame?(conn: LonglinkConnection, op: number, seq: number, now: number): boolean;
  /** After the connection closed (only for connections that onAccept let in). */
  onClose?(conn: LonglinkConnection): void;
}
