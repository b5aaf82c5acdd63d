import { TokenBucket } from '../transport/token-bucket.js';
import { type OpPacer, PACING_SHARE } from './frame-pacer.js';
import type { AnnouncedRule } from './server-bodies.js';

interface Mirror {
  readonly matches: (op: number) => boolean;
  readonly perMs: number;
  readonly burst: number;
  readonly bucket: TokenBucket;
}

/**
 * The server's rate rules (token buckets, announced in the LOGIN reply) mirrored on the client
 * at PACING_SHARE of their rate and burst: a frame waits until every bucket counting its op has
 * a token, instead of being sent and refused. Per-user and per-IP buckets are shared with other
 * connections the client cannot see; a refusal then still comes, and the retry covers it.
 */
export class RulePacer implements OpPacer {
  private readonly mirrors: Mirror[];

  constructor(rules: readonly AnnouncedRule[], now: number) {
    this.mirrors = rules.map((r) => {
      const burst = Math.max(1, Math.floor(r.burst * PACING_SHARE));
      return {
        matches: opMatcher(r.ops),
        perMs: (r.ratePerSecond * PACING_SHARE) / 1000,
        burst,
        bucket: new TokenBucket(burst, now),
      };
    });
  }

  delayFor(op: number, now: number): number {
    let wait = 0;
    for (const m of this.mirrors) {
      if (m.matches(op)) wait = Math.max(wait, m.bucket.wait(now, m.perMs, m.burst));
    }
    return wait;
  }

  take(op: number, now: number): void {
    for (const m of this.mirrors) if (m.matches(op)) m.bucket.take(now, m.perMs, m.burst);
  }
}

function opMatcher(ops: AnnouncedRule['ops']): (op: number) => boolean {
  if (ops === '*') return () => true;
  const single = new Set(ops.filter((o): o is number => typeof o === 'number'));
  const ranges = ops.filter((o): o is [number, number] => Array.isArray(o));
  return (op) => single.has(op) || ranges.some(([a, b]) => op >= a && op <= b);
}
