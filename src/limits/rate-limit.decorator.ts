import { SetMetadata } from '@nestjs/common';

/** Where @RateLimit keeps its limits on a handler method. */
export const RATE_LIMITS_METADATA = 'longlink:rate-limits';

/** A token bucket on one handler's op (see `limits.rules` in docs/SECURITY.md for the fields). */
export interface RateLimitOptions {
  /** What the bucket is keyed by: each connection, each user (all its connections), each IP. */
  per: 'connection' | 'user' | 'ip';
  ratePerSecond: number;
  burst: number;
  /** Refused frames past which the sender is kicked (default: burst); null: never kicked. */
  kickAfterRefused?: number | null;
  /** In ERROR bodies, logs and metrics; default: the handler's pattern and `per`. */
  name?: string;
}

/**
 * Limits how often clients may call this handler, checked in the transport
 * before the body is decoded (a refused frame costs no parse and no handler):
 *
 *   @RateLimit({ per: 'user', ratePerSecond: 5, burst: 10 })
 *   @MessagePattern('chat.typing', { op: 1001 })
 *
 * Several may be stacked (e.g. per user and per IP). Refusals are ERROR
 * rate-limited with retryAfterMs, like every other limit.
 */
export function RateLimit(options: RateLimitOptions): MethodDecorator {
  return (target, key, descriptor) => {
    const method = descriptor.value as object;
    const existing = (Reflect.getMetadata(RATE_LIMITS_METADATA, method) ??
      []) as RateLimitOptions[];
    SetMetadata(RATE_LIMITS_METADATA, [...existing, options])(target, key, descriptor);
  };
}
