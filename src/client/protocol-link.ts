import { FrameDecoder, FrameError, FrameSink, encodeJsonFrame } from '../transport/frame.codec.js';
import { Op, REPLY_FLAG } from '../transport/op-codes.js';
import type { ByteTransport, TransportFactory } from './byte-transport.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import { PendingRequests } from './pending-requests.js';
import { type CodeBody, parseCodeBody } from './server-bodies.js';

/** What a link reports to the session above it. */
export interface ProtocolLinkEvents {
  /** A push (seq 0) other than KICK: MSG or an application push. */
  onPush(op: number, body: unknown): void;
  /** KICK: the server closes right after; nothing more is sent or answered. */
  onKick(kick: CodeBody): void;
  /** An ERROR no request waits for (seq 0: the stream broke; or a refused PUSH_ACK). */
  onStrayError(error: LonglinkClientError): void;
  /** The transport ended; every request in flight has been rejected. Called once. */
  onClose(error?: Error): void;
}

/**
 * One connection's frames (docs/PROTOCOL.md §2–3): encodes requests with their own seq, decodes
 * the stream with the server's codec, matches replies and ERRORs by seq, hands pushes up.
 * It knows nothing of login, inboxes or reconnecting; LonglinkClient makes a new one per connect.
 */
export class ProtocolLink implements FrameSink {
  private readonly decoder: FrameDecoder;
  private readonly pending = new PendingRequests();
  private transport: ByteTransport | undefined;
  private sending = true;
  private ended = false;
  private readonly endedWaiters: (() => void)[] = [];

  constructor(
    private readonly events: ProtocolLinkEvents,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(this, maxFrameBytes);
  }

  /** Opens the transport; rejects (cannot-connect) when it cannot. */
  async open(factory: TransportFactory): Promise<void> {
    try {
      this.transport = await factory({
        onData: (chunk) => this.decoder.push(chunk),
        onClose: (error) => this.closed(error),
      });
    } catch (error) {
      this.closed(error instanceof Error ? error : undefined);
      throw error;
    }
    // end() or destroy() came while connecting.
    if (!this.sending) this.transport.destroy();
  }

  get isOpen(): boolean {
    return this.sending && !this.ended;
  }

  /** Sends a request; resolves with the reply body (undefined when empty), rejects on ERROR. */
  request(
    op: number,
    body: unknown,
    timeoutMs: number,
    onAnswer?: (body: unknown) => void,
  ): Promise<unknown> {
    if (!this.isOpen || this.transport === undefined) {
      return Promise.reject(
        new LonglinkClientError(ClientErrorCode.Disconnected, 'the connection is closed'),
      );
    }
    const seq = this.pending.nextSeq();
    const answer = this.pending.add(seq, op, timeoutMs, onAnswer);
    this.transport.write(encodeJsonFrame(op, seq, body));
    return answer;
  }

  /** Sends a request that has no reply (PUSH_ACK); a refusal comes back as a stray ERROR. */
  notify(op: number, body: unknown): void {
    if (!this.isOpen || this.transport === undefined) return;
    this.transport.write(encodeJsonFrame(op, this.pending.nextSeq(), body));
  }

  /** Ends gracefully (queued frames still leave); resolves once the transport is closed. */
  end(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.sending = false;
    const done = new Promise<void>((resolve) => this.endedWaiters.push(resolve));
    this.transport?.end();
    return done;
  }

  destroy(): void {
    this.sending = false;
    this.transport?.destroy();
  }

  onFrame(op: number, seq: number, raw: Buffer): void {
    let body: unknown;
    try {
      // An empty body means "no data" in a reply (§2).
      body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
    } catch {
      const error = new LonglinkClientError(ClientErrorCode.BadReply, 'a frame body is not JSON');
      if (!this.pending.reject(seq, error)) this.events.onStrayError(error);
      return;
    }
    if ((op & REPLY_FLAG) !== 0) {
      this.pending.resolve(seq, body);
    } else if (op === Op.ERROR) {
      const { code, message } = parseCodeBody(body);
      const error = new LonglinkClientError(code, message, true);
      if (seq === 0 || !this.pending.reject(seq, error)) this.events.onStrayError(error);
    } else if (op === Op.KICK) {
      const kick = parseCodeBody(body);
      // §4.4: stop sending; the server drops every answer still in flight.
      this.sending = false;
      this.pending.rejectAll(
        new LonglinkClientError(
          ClientErrorCode.Disconnected,
          `kicked: ${kick.code}${kick.message ? ` (${kick.message})` : ''}`,
        ),
      );
      this.events.onKick(kick);
    } else {
      this.events.onPush(op, body);
    }
  }

  onFrameError(error: FrameError): void {
    this.events.onStrayError(
      new LonglinkClientError(
        ClientErrorCode.BadReply,
        `bad frame from the server: ${error.message}`,
      ),
    );
    this.destroy();
  }

  private closed(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.sending = false;
    this.pending.rejectAll(
      new LonglinkClientError(ClientErrorCode.Disconnected, 'the connection closed'),
    );
    for (const resolve of this.endedWaiters.splice(0)) resolve();
    this.events.onClose(error);
  }
}
