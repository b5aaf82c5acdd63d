import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { RawData, WebSocket } from 'ws';
import { ConnectionStream } from '../transport/connection-stream.js';
import { HEADER_BYTES } from '../transport/frame.codec.js';

/** WebSocket close codes and reasons this stream uses (RFC 6455 §7.4.1). */
export const WsClose = {
  /** end(): the connection's last PDU (KICK, ERROR, LOGOUT reply) says why. */
  normal: { code: 1000, reason: '' },
  /** A binary message that is not exactly one whole frame. */
  oneFramePerMessage: { code: 1002, reason: 'one-frame-per-message' },
  /** A text message: longlink frames are binary. */
  textMessage: { code: 1003, reason: 'text-message' },
  /** Sent by ws itself for a message over maxPayload (= server.maxFrameBytes). */
  tooLarge: { code: 1009, reason: '' },
} as const;

/** How long a peer closed for a protocol breach gets to answer the close frame (as CLOSE_GRACE_MS). */
const PROTOCOL_CLOSE_GRACE_MS = 1000;
/** Frames go out as they are: binary, unfragmented, never compressed. */
const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;

/**
 * A ConnectionStream over a server-side ws WebSocket, so a WebSocket client
 * gets the very pipeline a TCP one does. Each binary message carries exactly
 * one frame and is one 'data' chunk; each queued frame leaves as one message.
 */
export class WebSocketStream extends EventEmitter implements ConnectionStream {
  /** We began the close (end, destroy, breach): a later close is not the peer's. */
  private closingByUs = false;

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded socket: 'drain', Nagle and 'destroyed' are its own. */
    private readonly raw: Socket,
  ) {
    super();
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    // ws closes with 1009 itself on a message over maxPayload, then reports it here.
    ws.on('error', (err) => this.emit('error', err));
    ws.on('close', () => {
      // A close frame or a dropped socket from the peer reads as TCP's FIN.
      if (!this.closingByUs) this.emit('end');
      this.emit('close');
    });
    raw.on('drain', () => this.emit('drain'));
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    // Messages ws parsed before our close are dropped, as a closing connection's frames are.
    if (this.closingByUs) return;
    if (!isBinary) return this.breach(WsClose.textMessage);
    // binaryType 'nodebuffer' (the default): ws hands one Buffer per message.
    const message = data as Buffer;
    if (message.length < HEADER_BYTES || message.readUInt32BE(0) !== message.length) {
      return this.breach(WsClose.oneFramePerMessage);
    }
    // The shared decoder checks the header (limits, version) as it does on TCP.
    this.emit('data', message);
  }

  /**
   * Closes for a breach of the framing rule; the peer gets a grace to answer, then is cut.
   * Reported as an error at once, so the session ends now, not when the socket is gone.
   */
  private breach(close: { code: number; reason: string }): void {
    this.closingByUs = true;
    this.ws.close(close.code, close.reason);
    setTimeout(() => this.ws.terminate(), PROTOCOL_CLOSE_GRACE_MS).unref();
    this.emit('error', new Error(`websocket closed ${close.code} ${close.reason}`));
  }

  setNoDelay(noDelay = true): void {
    this.raw.setNoDelay(noDelay);
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Splits `bytes` (whole frames back to back) into one binary message per frame, without copying. */
  write(bytes: Buffer): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    // One writev for the turn's messages, as TCP gets one write.
    this.raw.cork();
    try {
      let off = 0;
      while (bytes.length - off >= HEADER_BYTES) {
        const length = bytes.readUInt32BE(off);
        // Cannot happen with frames encoded by LonglinkConnection; guards the loop all the same.
        if (length < HEADER_BYTES || off + length > bytes.length) break;
        const frame =
          off === 0 && length === bytes.length ? bytes : bytes.subarray(off, off + length);
        this.ws.send(frame, SEND_OPTIONS);
        off += length;
      }
    } finally {
      this.raw.uncork();
    }
    return !this.raw.writableNeedDrain;
  }

  /** What ws and the socket hold unsent: the write-buffer bound applies as on TCP. */
  get writableLength(): number {
    return this.raw.destroyed ? 0 : this.ws.bufferedAmount;
  }

  get destroyed(): boolean {
    return this.raw.destroyed;
  }

  /** Close 1000 after what is queued (the connection flushed its last PDU first). */
  end(): void {
    this.closingByUs = true;
    this.ws.close(WsClose.normal.code);
  }

  /** No close frame: the socket is cut (write-buffer-full, grace over). */
  destroy(): void {
    this.closingByUs = true;
    this.ws.terminate();
  }
}
