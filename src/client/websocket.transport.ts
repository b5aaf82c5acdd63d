import { Buffer } from 'buffer';
import type { ByteTransport, ByteTransportHandlers, TransportFactory } from './byte-transport.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';

/**
 * The part of the WebSocket API used here, met by the browser's WebSocket and by the `ws`
 * package's. Handlers take `never` so that either's event types fit; the ones set here read
 * only what both provide.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drops the socket without a closing handshake. */
  terminate?(): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WebSocketTransportOptions {
  /** `ws://host:7401/ws`, or `wss://` for a gateway with TLS. */
  url: string;
  /** Gives up on the connect and the WebSocket handshake after this long (ms). */
  connectTimeoutMs: number;
  /** Default: the global WebSocket (browsers, Node ≥ 22). In Node 20, pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
}

/** `CLOSING` and `CLOSED`: the same numbers in browsers and in `ws`. */
const CLOSING = 2;
/** A normal closure (RFC 6455 §7.4.1). */
const NORMAL_CLOSURE = 1000;
/** How long end() waits for the server's closing handshake before dropping the socket (ms). */
const END_GRACE_MS = 1000;

/**
 * A byte stream over a WebSocket: the gateway's `/ws` carries the same frames as TCP, one frame
 * per binary message (docs/WEB.md). Works in browsers and, given `ws`'s constructor, in Node.
 */
export function webSocketTransport(options: WebSocketTransportOptions): TransportFactory {
  return (handlers) => openWebSocket(options, handlers);
}

function openWebSocket(
  options: WebSocketTransportOptions,
  handlers: ByteTransportHandlers,
): Promise<ByteTransport> {
  const { url, connectTimeoutMs } = options;
  const Impl = options.WebSocket ?? globalWebSocket();
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = new Impl(url);
    } catch (error) {
      // A malformed URL throws (SyntaxError) instead of failing asynchronously.
      reject(cannotConnect(url, error instanceof Error ? error.message : String(error)));
      return;
    }
    ws.binaryType = 'arraybuffer';
    let open = false;
    const timer = setTimeout(() => {
      fail(`no WebSocket handshake within ${connectTimeoutMs} ms`);
      dropSocket(ws);
    }, connectTimeoutMs);
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(cannotConnect(url, why));
    };
    ws.onopen = () => {
      if (settled) return dropSocket(ws);
      settled = open = true;
      clearTimeout(timer);
      resolve(new WebSocketStream(ws));
    };
    // Browsers say nothing about why (no status, no errno): the close event that follows does.
    ws.onerror = () => undefined;
    ws.onclose = (event: CloseEventLike) => {
      if (!open) return fail(describeClose(event, 'the handshake failed'));
      handlers.onClose(
        event.code === NORMAL_CLOSURE ? undefined : new Error(describeClose(event, 'closed')),
      );
    };
    ws.onmessage = (event: MessageEventLike) => {
      const data = event.data;
      if (data instanceof ArrayBuffer) handlers.onData(Buffer.from(data));
      else if (ArrayBuffer.isView(data)) {
        handlers.onData(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      } else {
        // The gateway sends binary messages only: a text message means this is not one.
        ws.close(1003, 'text messages are not frames');
      }
    };
  });
}

interface CloseEventLike {
  code: number;
  reason: string;
}

interface MessageEventLike {
  data: unknown;
}

/** An open WebSocket as a ByteTransport; each write is one frame, sent as one binary message. */
class WebSocketStream implements ByteTransport {
  constructor(private readonly ws: WebSocketLike) {}

  write(bytes: Buffer): void {
    if (this.ws.readyState >= CLOSING) return;
    this.ws.send(bytes);
  }

  end(): void {
    // Messages already sent leave before the close frame; the server then closes its side.
    this.ws.close(NORMAL_CLOSURE);
    const timer: { unref?: () => void } = setTimeout(() => dropSocket(this.ws), END_GRACE_MS);
    // Node keeps the process alive for a timer unless unref'd; browsers' timers are numbers.
    timer.unref?.();
  }

  destroy(): void {
    dropSocket(this.ws);
  }
}

/** Closes now: `ws` can drop the TCP connection; a browser only has the closing handshake. */
function dropSocket(ws: WebSocketLike): void {
  if (ws.terminate) ws.terminate();
  else if (ws.readyState < CLOSING) ws.close(NORMAL_CLOSURE);
}

function globalWebSocket(): WebSocketConstructor {
  const Impl = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (Impl === undefined) {
    throw new LonglinkClientError(
      ClientErrorCode.CannotConnect,
      'no global WebSocket here: pass webSocketTransport({ WebSocket }) (e.g. the ws package)',
    );
  }
  return Impl;
}

/** `closed (1006)`, `closed (1008: origin not allowed)`. */
function describeClose(event: CloseEventLike, what: string): string {
  return `${what} (${event.code}${event.reason ? `: ${event.reason}` : ''})`;
}

function cannotConnect(url: string, why: string): LonglinkClientError {
  return new LonglinkClientError(
    ClientErrorCode.CannotConnect,
    `cannot connect to ${url} (${why})`,
  );
}
