import { ErrorCode } from '../transport/error-codes.js';
import { TokenBucket } from '../transport/token-bucket.js';
import { OpSelector } from './op-selector.js';

export type RateKey = 'connection' | 'user' | 'ip';

/** What a rule is made of, from config (`limits.rules`) or a @RateLimit. */
export interface RateRuleSpec {
  readonly name: string;
  readonly per: RateKey;
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly kickAfterRefused: number | null;
}

/** A rule ready for the hot path: numbers precomputed, its buckets beside it. */
export class RateRule {
  /** Tokens per ms. */
  readonly perMs: number;
  readonly burst: number;
  readonly kickAfter: number;
  /** The ERROR body up to retryAfterMs, built once. */
  readonly errorHead: string;
  /** Buckets by uid or address (per: user | ip); connection buckets live on the connection. */
  readonly buckets = new Map<string, TokenBucket>();
  /** Frames refused, and senders kicked, by this rule (read by /metrics). */
  refusals = 0;
  kicks = 0;

  constructor(
    readonly index: number,
    readonly spec: RateRuleSpec,
    readonly selector: OpSelector,
  ) {
    this.perMs = spec.ratePerSecond / 1000;
    this.burst = spec.burst;
    this.kickAfter = spec.kickAfterRefused ?? Infinity;
    const message = `limit ${spec.name}: ${spec.ratePerSecond} per second per ${spec.per}, burst ${spec.burst}`;
    // ratePerSecond lets a client keep to the bucket's pace instead of being refused again.
    this.errorHead = `{"code":"${ErrorCode.RateLimited}","message":${JSON.stringify(message)},"limit":${JSON.stringify(spec.name)},"ratePerSecond":${spec.ratePerSecond},"retryAfterMs":`;
  }

  get name(): string {
    return this.spec.name;
  }

  get per(): RateKey {
    return this.spec.per;
  }
}
