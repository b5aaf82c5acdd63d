/**
 * A token bucket: `burst` tokens, refilled at `ratePerSecond`; each frame takes
 * one. Beside it, a level of refused frames draining at the same rate: a client
 * that keeps sending at more than twice the rate piles it up past the kick
 * threshold, one that merely overshoots does not. Plain fields, no timer: the
 * refill is computed from the elapsed time on each take.
 */
export class TokenBucket {
  tokens: number;
  refused = 0;
  /** Tokens taken since the last cluster sync (see SharedBuckets). */
  spent = 0;
  /** Open connections holding this bucket (a per-user or per-IP one is kept while any does). */
  holders = 0;
  at: number;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  /** Refills by the time elapsed; the ms until a token is there (0: one is), taking nothing. */
  wait(now: number, perMs: number, burst: number): number {
    if (now > this.at) {
      const elapsed = now - this.at;
      this.tokens = Math.min(burst, this.tokens + elapsed * perMs);
      this.refused = Math.max(0, this.refused - elapsed * perMs);
      this.at = now;
    }
    return this.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - this.tokens) / perMs));
  }

  /** Takes one token; 0 when admitted, else the ms until a token is there (a refusal counted). */
  take(now: number, perMs: number, burst: number): number {
    const waitMs = this.wait(now, perMs, burst);
    if (waitMs === 0) {
      this.tokens -= 1;
      this.spent++;
    } else this.refused++;
    return waitMs;
  }

  /** Unheld, full again by `now` and nothing to sync: the bucket can be forgotten. */
  idle(now: number, perMs: number, burst: number): boolean {
    return this.holders === 0 && this.spent === 0 && this.tokens + (now - this.at) * perMs >= burst;
  }
}
