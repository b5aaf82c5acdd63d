import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { LonglinkConfigOverrides } from '../../src/config/config.loader';
import { TestGateway, startGateway } from './test-gateway';

/** The servers cluster tests use: the machine's own (see .ci/run), overridable. */
export const TEST_REDIS_URL = process.env.LONGLINK_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
export const TEST_POSTGRES_URL =
  process.env.LONGLINK_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/longlink_test';

/**
 * A fresh namespace on the real Redis and PostgreSQL for one spec: a key prefix
 * and a PostgreSQL schema of its own (selected through the URL's search_path),
 * removed again by `dispose`.
 */
export class ClusterNamespace {
  readonly id = randomBytes(4).toString('hex');
  readonly keyPrefix = `longlink-test:${this.id}:`;
  readonly schema = `cluster_${this.id}`;

  get postgresUrl(): string {
    const url = new URL(TEST_POSTGRES_URL);
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    return url.toString();
  }

  static async create(): Promise<ClusterNamespace> {
    const ns = new ClusterNamespace();
    await ns.sql(`CREATE SCHEMA ${ns.schema}`);
    return ns;
  }

  /** Config overrides that make a gateway a node of this cluster. */
  node(nodeId: string, overrides: LonglinkConfigOverrides = {}): LonglinkConfigOverrides {
    return {
      ...overrides,
      cluster: {
        nodeId,
        nodeTtlMs: 2000,
        nodeHeartbeatMs: 500,
        ...overrides.cluster,
        redis: { url: TEST_REDIS_URL, keyPrefix: this.keyPrefix, ...overrides.cluster?.redis },
      },
      messaging: {
        store: 'postgres',
        ...overrides.messaging,
        postgres: { url: this.postgresUrl, ...overrides.messaging?.postgres },
      },
    };
  }

  /** `n` in-process gateways, nodes node1…noden of this cluster. */
  async start(n: number, overrides: LonglinkConfigOverrides = {}): Promise<TestGateway[]> {
    const nodes: TestGateway[] = [];
    for (let i = 1; i <= n; i++) nodes.push(await startGateway(this.node(`node${i}`, overrides)));
    return nodes;
  }

  async dispose(): Promise<void> {
    await this.sql(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }

  private async sql(text: string): Promise<void> {
    const client = new Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }
}
