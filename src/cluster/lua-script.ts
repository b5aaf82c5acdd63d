import { createHash } from 'node:crypto';
import Redis from 'ioredis';

type Reply = unknown;

/**
 * A Lua script run by its SHA1 (EVALSHA), loaded on first use and again after
 * a Redis restart forgot it (NOSCRIPT): the text goes over the wire once.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(
    redis: Redis,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<Reply> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
