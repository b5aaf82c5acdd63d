/**
 * The byte stream under the protocol. The client speaks frames over anything that carries bytes
 * in order and tells when it ends: TCP in Node (tcp.transport.ts) today, a WebSocket in browsers
 * later, without touching the protocol or session logic.
 */
export interface ByteTransportHandlers {
  /** Bytes in arrival order; a chunk may hold several frames or part of one. */
  onData(chunk: Buffer): void;
  /** The stream ended, whoever ended it; called once. `error` says why when it failed. */
  onClose(error?: Error): void;
}

export interface ByteTransport {
  /** Queues bytes for sending. */
  write(bytes: Buffer): void;
  /** Ends after the queued bytes are sent; onClose follows. */
  end(): void;
  /** Drops the stream now; onClose follows. */
  destroy(): void;
}

/**
 * Opens one stream and wires it to `handlers`. Rejects with a LonglinkClientError
 * `cannot-connect` whose message names the address (`cannot connect to 127.0.0.1:7400 (…)`).
 */
export type TransportFactory = (handlers: ByteTransportHandlers) => Promise<ByteTransport>;
