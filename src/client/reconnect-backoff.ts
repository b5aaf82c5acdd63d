export interface BackoffOptions {
  /** Delay before the first reconnect (ms): short, so a blip goes unnoticed. */
  initialDelayMs: number;
  /** Ceiling of the delay (ms): a server back from an outage is not hammered by every client. */
  maxDelayMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /**
   * Share of each delay that is random, 0…1: clients dropped by the same restart spread out
   * instead of reconnecting in lockstep.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
};

/** Exponential backoff with jitter: delay n is base·factorⁿ (capped), minus up to jitter of it. */
export class ReconnectBackoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: () => number = Math.random,
  ) {}

  /** Attempts since the last reset(). */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt (ms); each call counts one attempt. */
  next(): number {
    const { initialDelayMs, maxDelayMs, factor, jitter } = this.options;
    const base = Math.min(maxDelayMs, initialDelayMs * factor ** this.attempt);
    this.attempt++;
    return Math.round(base * (1 - jitter * this.random()));
  }

  /** After a successful login: the next outage starts from the shortest delay again. */
  reset(): void {
    this.attempt = 0;
  }
}
