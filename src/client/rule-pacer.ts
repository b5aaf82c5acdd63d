import { type OpPacer, PACING_SHARE } from './frame-pacer.js';
import type { AnnouncedRule } from './server-bodies.js';

interface Bucket {
  readonly matches: (op: number) => boolean;
  readonly perMs: number;
  readonly burst: number;
  tokens: number;
  at: number;
}

/**
 * The server's rate rules (token buckets, announced in the LOGIN reply) mirrored on the client
 * at PACING_SHARE of their rate and burst: a frame waits until every bucket counting its op has
 * a token, instead of being sent and refused. Per-user and per-IP buckets are shared with other
 * connections the client cannot see; a refusal then still comes, and the retry covers it.
 */
export class RulePacer implements OpPacer {
  private readonly buckets: Bucket[];

  constructor(rules: readonly AnnouncedRule[], now: number) {
    this.buckets = rules.map((r) => {
      const burst = Math.max(1, Math.floor(r.burst * PACING_SHARE));
      return {
        matches: opMatcher(r.ops),
        perMs: (r.ratePerSecond * PACING_SHARE) / 1000,
        burst,
        tokens: burst,
        at: now,
      };
    });
  }

  /** How long a frame of `op` must wait (0: it may go now). */
  delayFor(op: number, now: number): number {
    let wait = 0;
    for (const b of this.buckets) {
      if (!b.matches(op)) continue;
      this.refill(b, now);
      if (b.tokens < 1) wait = Math.max(wait, Math.ceil((1 - b.tokens) / b.perMs));
    }
    return wait;
  }

  /** A frame of `op` left. */
  take(op: number, now: number): void {
    for (const b of this.buckets) {
      if (!b.matches(op)) continue;
      this.refill(b, now);
      b.tokens -= 1;
    }
  }

  private refill(b: Bucket, now: number): void {
    if (now <= b.at) return;
    b.tokens = Math.min(b.burst, b.tokens + (now - b.at) * b.perMs);
    b.at = now;
  }
}

function opMatcher(ops: AnnouncedRule['ops']): (op: number) => boolean {
  if (ops === '*') return () => true;
  const single = new Set(ops.filter((o): o is number => typeof o === 'number'));
  const ranges = ops.filter((o): o is [number, number] => Array.isArray(o));
  return (op) => single.has(op) || ranges.some(([a, b]) => op >= a && op <= b);
}
