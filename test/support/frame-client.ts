import { encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';

export interface ReceivedFrame {
  op: number;
  seq: number;
  body: any;
  raw: Buffer;
}

/**
 * What the bare protocol clients of the specs share, whatever carries the bytes
 * (TCP or WebSocket): seqs, requests matched to their reply or ERROR, and
 * waiting for a frame received before or after the call.
 */
export abstract class FrameClient {
  readonly frames: ReceivedFrame[] = [];
  private nextSeq = 1;
  private waiters: { match: (f: ReceivedFrame) => boolean; resolve: (f: ReceivedFrame) => void }[] =
    [];

  /** Puts one encoded frame on the wire. */
  protected abstract write(frame: Buffer): void;

  /** Sends a frame with a JSON body; returns its seq. */
  send(op: number, body?: unknown, seq = this.nextSeq++): number {
    this.write(encodeJsonFrame(op, seq, body));
    return seq;
  }

  /** Sends a request and resolves with its reply or ERROR (same seq). */
  request(op: number, body?: unknown, timeoutMs = 3000): Promise<ReceivedFrame> {
    const seq = this.send(op, body);
    return this.waitFor(
      (f) => f.seq === seq && (f.op === (op | REPLY_FLAG) >>> 0 || f.op === Op.ERROR),
      timeoutMs,
    );
  }

  login(token: string): Promise<ReceivedFrame> {
    return this.request(Op.LOGIN, { token });
  }

  waitFor(match: (f: ReceivedFrame) => boolean, timeoutMs = 3000): Promise<ReceivedFrame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  waitForOp(op: number, timeoutMs = 3000): Promise<ReceivedFrame> {
    return this.waitFor((f) => f.op === op, timeoutMs);
  }

  /** Records a received frame and wakes whoever waits for it. */
  protected record(op: number, seq: number, raw: Buffer): void {
    const body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    const frame = { op, seq, body, raw };
    this.frames.push(frame);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(frame)) return true;
      w.resolve(frame);
      return false;
    });
  }
}
