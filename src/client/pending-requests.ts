import { MsgOp } from '../messaging/messaging.ops.js';
import { Op } from '../transport/op-codes.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';

interface Pending {
  readonly op: number;
  readonly resolve: (body: unknown) => void;
  readonly reject: (error: LonglinkClientError) => void;
  readonly timer: ReturnType<typeof setTimeout> | undefined;
}

const MAX_SEQ = 0xffff_ffff;

/**
 * Requests in flight on one connection, by seq (docs/PROTOCOL.md §3: replies come in any
 * order). Each settles exactly once: by its reply, its ERROR, its timeout or the connection's end.
 */
export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private lastSeq = 0;

  get size(): number {
    return this.pending.size;
  }

  /** A nonzero u32 seq not in flight (0 is what pushes and stream errors carry). */
  nextSeq(): number {
    do {
      this.lastSeq = this.lastSeq >= MAX_SEQ ? 1 : this.lastSeq + 1;
    } while (this.pending.has(this.lastSeq));
    return this.lastSeq;
  }

  /**
   * Tracks `seq`. `onAnswer` runs synchronously when the reply is decoded, before frames that
   * follow it in the stream (a SYNC needs that); the promise settles a microtask later.
   * `timeoutMs` undefined: no timer; it settles by its answer or the connection's end.
   */
  add(
    seq: number,
    op: number,
    timeoutMs: number | undefined,
    onAnswer?: (body: unknown) => void,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => {
                this.pending.delete(seq);
                reject(
                  new LonglinkClientError(
                    ClientErrorCode.Timeout,
                    `no answer to ${opName(op)} within ${timeoutMs} ms`,
                  ),
                );
              },
              Math.max(1, timeoutMs),
            );
      const answered = (body: unknown) => {
        try {
          onAnswer?.(body);
          resolve(body);
        } catch (error) {
          // Never let a reply handler's failure escape into the socket's data callback.
          reject(error);
        }
      };
      this.pending.set(seq, { op, resolve: answered, reject, timer });
    });
  }

  /** Settles `seq` with its reply body; false when no such request waits (late or unknown). */
  resolve(seq: number, body: unknown): boolean {
    const entry = this.take(seq);
    entry?.resolve(body);
    return entry !== undefined;
  }

  reject(seq: number, error: LonglinkClientError): boolean {
    const entry = this.take(seq);
    entry?.reject(error);
    return entry !== undefined;
  }

  rejectAll(error: LonglinkClientError): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  private take(seq: number): Pending | undefined {
    const entry = this.pending.get(seq);
    if (entry === undefined) return undefined;
    this.pending.delete(seq);
    clearTimeout(entry.timer);
    return entry;
  }
}

const OP_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries({ ...Op, ...MsgOp }).map(([name, op]) => [op, name]),
);

/** A name for messages: `SEND`, or `op 1001` for application ops. */
export function opName(op: number): string {
  return OP_NAMES.get(op) ?? `op ${op}`;
}
