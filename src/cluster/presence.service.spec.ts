import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config/config.loader';
import { ClusterRedisService } from './cluster-redis.service';
import { PresenceService } from './presence.service';

const REDIS_URL = process.env.LONGLINK_TEST_REDIS_URL || 'redis://127.0.0.1:6379';

/** Two nodes' presence services on the real Redis, under a fresh key prefix. */
async function twoNodes(prefix: string) {
  const make = async (nodeId: string) => {
    const config = loadConfig({
      env: {},
      overrides: { cluster: { nodeId, redis: { url: REDIS_URL, keyPrefix: prefix } } },
    });
    const redis = new ClusterRedisService(config);
    await redis.onModuleInit();
    return { redis, presence: new PresenceService(redis) };
  };
  return [await make('a'), await make('b')];
}

describe('PresenceService (Lua on the real Redis)', () => {
  const prefix = `longlink-test:${randomBytes(4).toString('hex')}:`;
  let nodes: Awaited<ReturnType<typeof twoNodes>>;
  let raw: Redis;

  beforeAll(async () => {
    nodes = await twoNodes(prefix);
    raw = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    for (const n of nodes) await n.redis.onApplicationShutdown();
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
  });

  it('orders claims by epoch and names the previous owner', async () => {
    const [a, b] = nodes;
    expect(await a.presence.claim('u1', 1)).toEqual({ epoch: 1, previous: null });
    expect(await b.presence.claim('u1', 7)).toEqual({ epoch: 2, previous: 'a' });
    expect(await a.presence.locate('u1')).toBe('b');
  });

  it('never lets a stale owner release a newer one, and keeps the epoch after a release', async () => {
    const [a, b] = nodes;
    const first = await a.presence.claim('u2', 1);
    const second = await b.presence.claim('u2', 2);
    await a.presence.release('u2', first.epoch);
    expect(await a.presence.locate('u2')).toBe('b');
    await b.presence.release('u2', second.epoch);
    expect(await a.presence.locate('u2')).toBeNull();
    expect((await a.presence.claim('u2', 3)).epoch).toBe(second.epoch + 1);
  });

  it('restores a session unless a newer one owns the user elsewhere', async () => {
    const [a, b] = nodes;
    const old = await a.presence.claim('u3', 1);
    await b.presence.claim('u3', 2);
    expect(await a.presence.restore('u3', 1, old.epoch)).toBe(false);
    // After Redis lost everything, the live session registers again with its own epoch.
    await raw.del(`${prefix}presence:u4`);
    expect(await a.presence.restore('u4', 5, 9)).toBe(true);
    expect(await b.presence.locate('u4')).toBe('a');
    expect((await b.presence.claim('u4', 6)).epoch).toBe(10);
  });

  it('treats the users of a node whose liveness key is gone as offline', async () => {
    const [a, b] = nodes;
    await b.presence.claim('u5', 1);
    expect(await a.presence.locate('u5')).toBe('b');
    await raw.del(`${prefix}node:b`);
    expect(await a.presence.locate('u5')).toBeNull();
  });
});
