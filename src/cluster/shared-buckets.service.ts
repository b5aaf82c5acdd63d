import { Injectable, OnModuleInit } from '@nestjs/common';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { SharedBucketTake } from '../limits/shared-buckets.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { LuaScript } from './lua-script.js';

/**
 * Applies each node's spending to shared token buckets (hash {t: tokens, at: ms})
 * on Redis's clock, so nodes whose clocks differ agree; a debt is kept down to
 * -burst; a bucket expires once it would be full again. Tokens come back as
 * strings: Lua would truncate a fractional number.
 */
const settle = new LuaScript(`
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local out = {}
for i, key in ipairs(KEYS) do
  local spent = tonumber(ARGV[i * 3 - 2])
  local rate = tonumber(ARGV[i * 3 - 1])
  local burst = tonumber(ARGV[i * 3])
  local state = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000) - spent
  if tokens < -burst then tokens = -burst end
  redis.call('HSET', key, 't', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', key, math.ceil(2 * burst * 1000 / rate) + 1000)
  out[i] = tostring(tokens)
end
return out
`);

/** Cluster mode: the rate rules' per-user and per-IP buckets, shared by every node through Redis. */
@Injectable()
export class SharedBucketsService implements OnModuleInit {
  constructor(
    private readonly redis: ClusterRedisService,
    private readonly rateRules: RateRulesHook,
  ) {}

  onModuleInit(): void {
    if (!this.redis.enabled) return;
    this.rateRules.useSharedBuckets((takes) => this.settle(takes));
  }

  private async settle(takes: readonly SharedBucketTake[]): Promise<number[]> {
    const keys = takes.map((t) => this.redis.keys.bucket(t.key));
    const args = takes.flatMap((t) => [t.spent, t.ratePerSecond, t.burst]);
    const reply = await settle.run(this.redis.command, keys, args);
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the bucket script');
    return reply.map(Number);
  }
}
