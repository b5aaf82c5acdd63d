/**
 * What the cluster scenario stands on: the machine's Redis and PostgreSQL (a
 * key prefix and a schema of its own per node set, removed afterwards), a set
 * of longlink nodes started with startServer, and the CPU Redis and PostgreSQL
 * use, read from /proc of their processes (found with pgrep).
 */
import Redis from 'ioredis';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { BenchContext } from './context';
import { SYSTEMS, ServerHandle, processCpuMicros, startServer } from './servers';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Redis's and PostgreSQL's CPU over `seconds`, in µs; null where they run elsewhere. */
export interface BackingCpu {
  redisUs: number | null;
  /** Backends of the bench's database and PostgreSQL's own processes (WAL writer, …). */
  postgresUs: number | null;
  seconds: number;
}

type Sample = { t: number; cpu: Map<number, { kind: 'redis' | 'pg'; us: number }> };

const isLocal = (url: string) => /^(127\.|localhost$|\[::1\]$)/.test(new URL(url).hostname);

function pids(name: string): number[] {
  const out = spawnSync('pgrep', ['-x', name], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

export class Backing {
  private constructor(
    readonly redisUrl: string,
    readonly postgresUrl: string,
    private readonly database: string,
  ) {}

  /** Checks both servers answer and creates the bench database if missing; throws why not. */
  static async open(redisUrl: string, postgresUrl: string): Promise<Backing> {
    const redis = new Redis(redisUrl, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 0,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      throw new Error(
        `Redis at ${redisUrl}: ${(err as Error).message} (apt-get install redis-server; --redis-url)`,
      );
    } finally {
      redis.disconnect();
    }
    const database = new URL(postgresUrl).pathname.slice(1);
    if (!IDENT.test(database))
      throw new Error(`--postgres-url: database name ${database} (a-z, 0-9, _)`);
    const admin = new URL(postgresUrl);
    admin.pathname = '/postgres';
    try {
      await sql(admin.toString(), async (c) => {
        const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
        if (r.rowCount === 0) await c.query(`CREATE DATABASE ${database}`).catch(duplicateOk);
      });
    } catch (err) {
      throw new Error(
        `PostgreSQL at ${postgresUrl}: ${(err as Error).message} (apt-get install postgresql; --postgres-url)`,
      );
    }
    return new Backing(redisUrl, postgresUrl, database);
  }

  /** A fresh key prefix and schema; `dispose` removes both. */
  async namespace(): Promise<{
    keyPrefix: string;
    postgresUrl: string;
    dispose: () => Promise<void>;
  }> {
    const id = randomBytes(4).toString('hex');
    const schema = `bench_${id}`;
    const keyPrefix = `longlink-bench:${id}:`;
    await sql(this.postgresUrl, (c) => c.query(`CREATE SCHEMA ${schema}`));
    const url = new URL(this.postgresUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const dispose = async () => {
      await sql(this.postgresUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      const redis = new Redis(this.redisUrl);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 5000);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    };
    return { keyPrefix, postgresUrl: url.toString(), dispose };
  }

  /** Redis's memory in use (INFO used_memory), bytes. */
  async redisMemory(): Promise<number> {
    const redis = new Redis(this.redisUrl);
    try {
      return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);
    } finally {
      redis.disconnect();
    }
  }

  /**
   * CPU so far of Redis and of PostgreSQL's processes, except backends of other
   * databases (other people's tests share the server). Redis is shared as it is.
   */
  sample(): Sample {
    const cpu: Sample['cpu'] = new Map();
    const read = (pid: number, kind: 'redis' | 'pg') => {
      try {
        cpu.set(pid, { kind, us: processCpuMicros(pid) });
      } catch {
        // gone meanwhile
      }
    };
    if (isLocal(this.redisUrl)) for (const pid of pids('redis-server')) read(pid, 'redis');
    if (isLocal(this.postgresUrl)) {
      for (const pid of pids('postgres')) {
        let title = '';
        try {
          title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
        } catch {
          continue;
        }
        // A backend's title: "postgres: 15/main: USER DATABASE HOST(PORT) STATE".
        const backend = /^postgres: [^:]+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title);
        if (!backend || backend[1] === this.database) read(pid, 'pg');
      }
    }
    return { t: performance.now(), cpu };
  }

  /** CPU Redis and PostgreSQL used between two samples (a process born meanwhile counts in full). */
  static used(a: Sample, b: Sample): BackingCpu {
    const sum = { redis: 0, pg: 0 };
    for (const [pid, x] of b.cpu) sum[x.kind] += x.us - (a.cpu.get(pid)?.us ?? 0);
    const has = (kind: 'redis' | 'pg') => [...b.cpu.values()].some((x) => x.kind === kind);
    return {
      redisUs: has('redis') ? sum.redis : null,
      postgresUs: has('pg') ? sum.pg : null,
      seconds: (b.t - a.t) / 1000,
    };
  }

  /** Adds two periods (the ramp steps). */
  static add(a: BackingCpu, b: BackingCpu): BackingCpu {
    const plus = (x: number | null, y: number | null) => (x === null || y === null ? null : x + y);
    return {
      redisUs: plus(a.redisUs, b.redisUs),
      postgresUs: plus(a.postgresUs, b.postgresUs),
      seconds: a.seconds + b.seconds,
    };
  }
}

function duplicateOk(err: { code?: string }): void {
  if (err.code !== '42P04') throw err; // created meanwhile by someone else
}

async function sql<T>(url: string, run: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return await run(c);
  } finally {
    await c.end();
  }
}

/** N longlink nodes of one fresh cluster; CPU and RSS are the sums over the nodes. */
export class NodeSet {
  private constructor(
    readonly nodes: ServerHandle[],
    private readonly dispose: () => Promise<void>,
  ) {}

  static async start(
    ctx: BenchContext,
    backing: Backing,
    count: number,
    o: { heartbeatMs: number; heapProbe: boolean; wantFds: number; poolSize: number },
  ): Promise<NodeSet> {
    const ns = await backing.namespace();
    const nodes: ServerHandle[] = [];
    try {
      for (let i = 1; i <= count; i++) {
        nodes.push(
          await startServer(SYSTEMS.longlink, {
            heartbeatMs: o.heartbeatMs,
            heapProbe: o.heapProbe,
            wantFds: o.wantFds,
            nodeFlags: ctx.opts.serverNodeFlags,
            cluster: {
              redisUrl: backing.redisUrl,
              keyPrefix: ns.keyPrefix,
              postgresUrl: ns.postgresUrl,
              nodeId: `bench-node-${i}`,
              poolSize: o.poolSize,
            },
          }),
        );
      }
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      await ns.dispose().catch(() => undefined);
      throw err;
    }
    return new NodeSet(nodes, ns.dispose);
  }

  cpuMicros(): number {
    return this.nodes.reduce((s, n) => s + n.cpuMicros(), 0);
  }

  rssBytes(): number {
    return this.nodes.reduce((s, n) => s + n.rssBytes(), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.dispose().catch(() => undefined);
  }
}
