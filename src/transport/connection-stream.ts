/**
 * The byte stream under a LonglinkConnection. A net.Socket or TLSSocket is one
 * as it is; a WebSocket is adapted to it (one frame per message), so both
 * listeners feed the same decoder, budgets, sessions and write queue.
 */
export interface ConnectionStream {
  setNoDelay(noDelay?: boolean): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'end' | 'close' | 'drain', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  /** Queues bytes: one or more whole frames, encoded back to back. */
  write(bytes: Buffer): boolean;
  /** Bytes accepted by write() and not yet taken by the kernel. */
  readonly writableLength: number;
  readonly destroyed: boolean;
  end(): unknown;
  destroy(): unknown;
}

/** Which listener accepted a connection (a label of metrics and admin lookups). */
export type ListenerKind = 'tcp' | 'websocket';
