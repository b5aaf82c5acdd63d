import {
  FrameDecoder,
  FrameError,
  FrameSink,
  OFF_OP,
  encodeJsonFrame,
} from '../transport/frame.codec.js';
import { ErrorCode } from '../transport/error-codes.js';
import { Op, REPLY_FLAG } from '../transport/op-codes.js';
import type { ByteTransport, TransportFactory } from './byte-transport.js';
import { FramePacer, PACING_SHARE, paceBudget } from './frame-pacer.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import { PendingRequests, opName } from './pending-requests.js';
import { RateLimitRetry } from './rate-limit-retry.js';
import { RulePacer } from './rule-pacer.js';
import { type CodeBody, type ServerLimits, parseCodeBody } from './server-bodies.js';

/** How long the client keeps to a token bucket's pace after one refused a frame. */
const BUCKET_PACING_MS = 5000;

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
 * Every frame leaves through a FramePacer held to the limits of the LOGIN reply, and a frame the
 * server refused (ERROR rate-limited) goes again after retryAfterMs, a bounded number of times.
 * It knows nothing of login, inboxes or reconnecting; LonglinkClient makes a new one per connect.
 */
export class ProtocolLink implements FrameSink {
  private readonly decoder: FrameDecoder;
  private readonly pending = new PendingRequests();
  private readonly pacer = new FramePacer<Buffer>(
    (frame) => this.transport?.write(frame),
    (frame) => frame.readUInt32BE(OFF_OP),
  );
  private readonly retries = new RateLimitRetry();
  private limits: ServerLimits | undefined;
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

  /** Frames waiting in the pacer. */
  get waiting(): number {
    return this.pacer.waiting;
  }

  /** The LOGIN reply's limits: pacing starts (none from an older server: no pacing). */
  setLimits(limits: ServerLimits | undefined): void {
    this.limits = limits;
    this.pacer.setBudget(paceBudget(limits));
    this.pacer.setRules(limits?.rules ? new RulePacer(limits.rules, Date.now()) : undefined);
  }

  /**
   * Sends a request; resolves with the reply body (undefined when empty), rejects on ERROR.
   * `timeoutMs` undefined: no deadline (the heartbeat still catches a dead link).
   */
  request(
    op: number,
    body: unknown,
    timeoutMs: number | undefined,
    onAnswer?: (body: unknown) => void,
  ): Promise<unknown> {
    if (!this.isOpen || this.transport === undefined) {
      return Promise.reject(
        new LonglinkClientError(ClientErrorCode.Disconnected, 'the connection is closed'),
      );
    }
    const seq = this.pending.nextSeq();
    const frame = encodeJsonFrame(op, seq, body);
    const tooLarge = this.oversize(op, frame.length);
    if (tooLarge) return Promise.reject(tooLarge);
    const answer = this.pending.add(seq, op, timeoutMs, onAnswer);
    this.retries.trackRequest(seq, frame);
    this.pacer.send(frame);
    return answer.finally(() => this.retries.forget(seq));
  }

  /** Sends a request that has no reply (PUSH_ACK); a refusal comes back as a stray ERROR. */
  notify(op: number, body: unknown): void {
    if (!this.isOpen || this.transport === undefined) return;
    const seq = this.pending.nextSeq();
    const frame = encodeJsonFrame(op, seq, body);
    this.retries.trackNotify(seq, frame);
    this.pacer.send(frame);
  }

  /**
   * A PUSH_ACK written at once, past the pacer: the last frame before end(), which drops what
   * still waits; one frame over the pace at worst, and a refusal only means a redelivery.
   */
  notifyNow(op: number, body: unknown): void {
    if (!this.isOpen || this.transport === undefined) return;
    this.transport.write(encodeJsonFrame(op, this.pending.nextSeq(), body));
  }

  /** The error for a frame the server would refuse for its size (and close the connection). */
  private oversize(op: number, bytes: number): LonglinkClientError | undefined {
    const max = this.limits?.maxFrameBytes;
    if (max === undefined || bytes <= max) return undefined;
    return new LonglinkClientError(
      ClientErrorCode.MessageTooLarge,
      `${opName(op)} would be a ${bytes}-byte frame; the server accepts at most ${max} bytes`,
    );
  }

  /**
   * Ends gracefully: what the transport has queued still leaves, frames the pacer holds do not
   * (their requests fail with `disconnected`). Resolves once the transport is closed.
   */
  end(): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.sending = false;
    this.pacer.stop();
    const done = new Promise<void>((resolve) => this.endedWaiters.push(resolve));
    this.transport?.end();
    return done;
  }

  destroy(): void {
    this.sending = false;
    this.pacer.stop();
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
      const { code, message, retryAfterMs, ratePerSecond } = parseCodeBody(body);
      if (
        code === ErrorCode.RateLimited &&
        seq !== 0 &&
        this.retryRefused(seq, retryAfterMs, ratePerSecond)
      ) {
        return;
      }
      const error = new LonglinkClientError(code, message, true, undefined, retryAfterMs);
      if (seq === 0 || !this.pending.reject(seq, error)) this.events.onStrayError(error);
    } else if (op === Op.KICK) {
      const kick = parseCodeBody(body);
      // §4.4: stop sending; the server drops every answer still in flight.
      this.sending = false;
      this.pacer.stop();
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

  /**
   * ERROR rate-limited: the server's window is full, so nothing more goes out until it ends
   * (retryAfterMs, plus a margin), then the refused frame goes again, ahead of the frames queued
   * after it. False when the refusal stands (retries used up, or a frame not ours).
   */
  private retryRefused(
    seq: number,
    retryAfterMs: number | undefined,
    bucketRate: number | undefined,
  ): boolean {
    if (!this.isOpen) return false;
    const retry = this.retries.onRefused(seq, retryAfterMs, this.limits?.intervalMs);
    if (retry === undefined) return false;
    this.pacer.pause(retry.delayMs);
    // A token bucket (a rate rule) refused it: keep below its refill rate for a while.
    if (bucketRate !== undefined) {
      this.pacer.spaceOut(Math.ceil(1000 / (bucketRate * PACING_SHARE)), BUCKET_PACING_MS);
    }
    this.pacer.resend(retry.frame);
    return true;
  }

  private closed(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.sending = false;
    this.pacer.stop();
    this.pending.rejectAll(
      new LonglinkClientError(ClientErrorCode.Disconnected, 'the connection closed'),
    );
    for (const resolve of this.endedWaiters.splice(0)) resolve();
    this.events.onClose(error);
  }
}
