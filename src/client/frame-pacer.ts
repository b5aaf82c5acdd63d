import type { ServerLimits } from './server-bodies.js';

/**
 * The share of the server's announced budget the client uses: the server counts frames as they
 * arrive, in windows of its own clock, so frames sent a little over a window apart can land in
 * one window. 10% covers that skew and latency jitter.
 */
export const PACING_SHARE = 0.9;

/** Per-op waits beside the window (the server's token buckets: RulePacer). */
export interface OpPacer {
  /** How long a frame of `op` must wait (0: it may go now). */
  delayFor(op: number, now: number): number;
  /** A frame of `op` left. */
  take(op: number, now: number): void;
}

/** Frames and bytes the pacer lets out per window: PACING_SHARE of what the server announced. */
export interface PaceBudget {
  frames: number;
  intervalMs: number;
  /** Undefined when the server announced no byte budget. */
  bytes?: number;
}

export function paceBudget(limits: ServerLimits | undefined): PaceBudget | undefined {
  if (limits === undefined) return undefined;
  const budget: PaceBudget = {
    frames: Math.max(1, Math.floor(limits.maxPackets * PACING_SHARE)),
    intervalMs: limits.intervalMs,
  };
  if (limits.maxBytes !== undefined) budget.bytes = Math.floor(limits.maxBytes * PACING_SHARE);
  return budget;
}

/** Before the limits are known (the LOGIN), only this many sends are remembered. */
const UNPACED_HISTORY = 64;

/**
 * Every frame a connection writes passes here (requests, PUSH_ACKs, heartbeats: the server counts
 * them all). A sliding window keeps any `intervalMs` span to `budget.frames` frames (and
 * `budget.bytes`); frames over the pace wait, in order, and leave as the window slides. Before
 * setBudget() (no LOGIN reply yet, or a server that announces no limits) nothing waits.
 */
export class FramePacer<Frame extends { readonly length: number }> {
  private budget: PaceBudget | undefined;
  /** When each recent frame left, and its size; oldest first, from `head` on. */
  private sentAt: number[] = [];
  private sentBytes: number[] = [];
  private head = 0;
  private windowBytes = 0;
  private readonly queue: Frame[] = [];
  /** Resent frames at the head of the queue, in the order they were refused. */
  private resends = 0;
  private pausedUntil = 0;
  /** Until then, at least `gapMs` between frames (a token bucket refused one: see spaceOut). */
  private spacedUntil = 0;
  private gapMs = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  private rules: OpPacer | undefined;

  /** `opOf`: a frame's op, for the rate rules (setRules); without it they are not applied. */
  constructor(
    private readonly write: (frame: Frame) => void,
    private readonly opOf?: (frame: Frame) => number,
  ) {}

  /** The server's token buckets, mirrored (from the LOGIN reply), or undefined for none. */
  setRules(rules: OpPacer | undefined): void {
    this.rules = rules;
    this.drain();
  }

  /** Frames waiting for the window to slide. */
  get waiting(): number {
    return this.queue.length;
  }

  setBudget(budget: PaceBudget | undefined): void {
    this.budget = budget;
    this.drain();
  }

  /** Sends now, or queues behind the frames already waiting. */
  send(frame: Frame): void {
    if (this.stopped) return;
    this.queue.push(frame);
    if (this.queue.length === 1) this.drain();
  }

  /**
   * Sends a refused frame again ahead of those never sent yet (but after earlier refused ones),
   * so a refusal does not put a message behind the ones queued after it.
   */
  resend(frame: Frame): void {
    if (this.stopped) return;
    this.queue.splice(this.resends, 0, frame);
    this.resends++;
    if (this.queue.length === 1) this.drain();
  }

  /**
   * Holds every frame for `ms`: the server refused one (rate-limited), so its window is full and
   * anything sent before it ends would be refused too.
   */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
    this.reschedule(ms);
  }

  /**
   * Keeps `gapMs` between frames for the next `forMs`: a token bucket of the server (a rate rule)
   * refused a frame, and its retryAfterMs, the time to its next token, is about one frame's
   * share of its rate. Frames sent at the announced window's pace would be refused again.
   */
  spaceOut(gapMs: number, forMs: number): void {
    this.gapMs = Math.max(this.gapMs, gapMs);
    this.spacedUntil = Date.now() + forMs;
  }

  /** Drops what waits: the connection is gone. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.resends = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private drain(): void {
    if (this.stopped || this.timer !== undefined) return;
    while (this.queue.length > 0) {
      const now = Date.now();
      const next = this.queue[0];
      const op = this.rules !== undefined && this.opOf !== undefined ? this.opOf(next) : -1;
      const wait = Math.max(
        this.delayFor(next.length, now),
        op >= 0 ? this.rules!.delayFor(op, now) : 0,
      );
      if (wait > 0) {
        this.reschedule(wait);
        return;
      }
      const frame = this.queue.shift() as Frame;
      if (this.resends > 0) this.resends--;
      if (op >= 0) this.rules!.take(op, now);
      this.record(frame.length, now);
      this.write(frame);
      if (this.stopped) return; // the write closed the connection
    }
  }

  /** How long the next frame of `size` bytes must wait (0: send it now). */
  private delayFor(size: number, now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (now < this.spacedUntil && this.sentAt.length > this.head) {
      const next = this.sentAt[this.sentAt.length - 1] + this.gapMs;
      if (next > now) return next - now;
    } else if (this.gapMs > 0 && now >= this.spacedUntil) this.gapMs = 0;
    const budget = this.budget;
    if (budget === undefined) return 0;
    this.forget(now - budget.intervalMs);
    const count = this.sentAt.length - this.head;
    const overFrames = count >= budget.frames;
    // One frame larger than the byte budget still goes, alone in its window.
    const overBytes =
      budget.bytes !== undefined && count > 0 && this.windowBytes + size > budget.bytes;
    if (!overFrames && !overBytes) return 0;
    // When the oldest send leaves the window; drain() checks again then.
    return Math.max(1, this.sentAt[this.head] + budget.intervalMs - now + 1);
  }

  private record(size: number, now: number): void {
    this.sentAt.push(now);
    this.sentBytes.push(size);
    this.windowBytes += size;
    if (this.budget === undefined && this.sentAt.length - this.head > UNPACED_HISTORY) {
      this.dropOldest();
    }
  }

  /**
   * Forgets sends before `horizon`: out of every window from now on. (Strictly before: a send
   * exactly intervalMs ago still counts, which rounds millisecond clocks our way.)
   */
  private forget(horizon: number): void {
    while (this.head < this.sentAt.length && this.sentAt[this.head] < horizon) this.dropOldest();
  }

  /** O(1): advances `head`, compacting now and then (a window may hold thousands of sends). */
  private dropOldest(): void {
    this.windowBytes -= this.sentBytes[this.head];
    this.head++;
    if (this.head >= 1024 && this.head * 2 >= this.sentAt.length) {
      this.sentAt = this.sentAt.slice(this.head);
      this.sentBytes = this.sentBytes.slice(this.head);
      this.head = 0;
    }
  }

  private reschedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, ms);
  }
}
