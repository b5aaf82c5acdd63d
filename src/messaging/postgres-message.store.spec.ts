import { randomBytes } from 'node:crypto';
import { createServer, Server, Socket } from 'node:net';
import { Client } from 'pg';
import { NewMessage } from './message.types';
import { PostgresMessageStore, PostgresStoreOptions } from './postgres-message.store';
import { MIGRATIONS_TABLE, POSTGRES_MIGRATIONS } from './postgres-migrations';

// What the contract spec does not cover: several stores (nodes) sharing one database.
// Needs a running server (.ci/run starts one): unreachable, these tests fail rather than skip.
const POSTGRES_URL =
  process.env.LONGLINK_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/longlink_test';

async function sql<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

let schema: string;
const stores: PostgresMessageStore[] = [];
/** A store on this test's schema: two of them stand for two nodes. */
function node(options: Partial<PostgresStoreOptions> = {}): PostgresMessageStore {
  const store = new PostgresMessageStore({ url: POSTGRES_URL, schema, ...options });
  stores.push(store);
  return store;
}

beforeEach(() => {
  schema = `pgstore_${randomBytes(8).toString('hex')}`;
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await sql((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
});

const msg = (
  from: string,
  to: string,
  clientMsgId: string,
  content: unknown = null,
): NewMessage => ({
  from,
  to,
  clientMsgId,
  content: JSON.stringify(content),
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('PostgresMessageStore shared by several nodes', () => {
  it('gives concurrent appends to one inbox from two nodes seqs 1..1000, no gap, no duplicate', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    // 2 × 500 messages in batches of 20, all batches in flight at once.
    const batches = (store: PostgresMessageStore, sender: string) =>
      Array.from({ length: 25 }, (_, k) =>
        store.append(Array.from({ length: 20 }, (_, i) => msg(sender, 'bob', `${k}-${i}`, i))),
      );
    const results = (await Promise.all([...batches(a, 'alice'), ...batches(b, 'dave')])).flat();

    expect(results.every((r) => !r.duplicate)).toBe(true);
    expect(results.map((r) => r.message.seq).sort((x, y) => x - y)).toEqual(range(1000));
    expect(new Set(results.map((r) => r.message.msgId)).size).toBe(1000);
    const stored = await b.fetch('bob', 0, 2000);
    expect(stored.map((m) => m.seq)).toEqual(range(1000));
    expect(new Map(stored.map((m) => [m.seq, m]))).toEqual(
      new Map(results.map((r) => [r.message.seq, r.message])),
    );
    expect([await a.lastSeq('bob'), await b.lastSeq('bob')]).toEqual([1000, 1000]);
  });

  it('keeps a sender order within each batch across nodes', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    const results = await Promise.all(
      range(20).map((k) =>
        (k % 2 ? a : b).append(range(10).map((i) => msg(`s${k}`, 'bob', `${i}`))),
      ),
    );
    for (const batch of results) {
      const seqs = batch.map((r) => r.message.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    }
  });

  it('leaves no gap when batches cover several inboxes in opposite orders', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    const inboxes = ['bob', 'carol', 'erin', 'frank'];
    const appends = range(40).map((k) => {
      const order = k % 2 ? inboxes : [...inboxes].reverse();
      return (k % 2 ? a : b).append(order.map((to) => msg(`s${k}`, to, to)));
    });
    await Promise.all(appends);
    for (const uid of inboxes) {
      expect((await a.fetch(uid, 0, 100)).map((m) => m.seq)).toEqual(range(40));
    }
  });

  it('stores a (from, clientMsgId) sent through both nodes at once only once', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    // The same resend through both nodes; every other one names another recipient as well.
    const pairs = await Promise.all(
      range(100).map((k) =>
        Promise.all([
          a.append([msg('alice', 'bob', `c${k}`, 'via a')]),
          b.append([msg('alice', k % 2 ? 'carol' : 'bob', `c${k}`, 'via b')]),
        ]),
      ),
    );
    for (const [[fromA], [fromB]] of pairs) {
      expect(fromA.message).toEqual(fromB.message);
      expect([fromA.duplicate, fromB.duplicate].sort()).toEqual([false, true]);
    }
    const bob = await a.fetch('bob', 0, 200);
    const carol = await a.fetch('carol', 0, 200);
    expect(bob.length + carol.length).toBe(100);
    expect(bob.map((m) => m.seq)).toEqual(range(bob.length));
    expect(carol.map((m) => m.seq)).toEqual(range(carol.length));
    expect((await a.lastSeq('bob')) + (await a.lastSeq('carol'))).toBe(100);
  });

  it('applies migrations once, whether nodes start together or again', async () => {
    await Promise.all([node().open(), node().open(), node().open()]);
    const first = node();
    await first.open();
    const [stored] = await first.append([msg('alice', 'bob', 'k1', 'kept')]);
    await first.close();
    const again = node();
    await again.open();
    expect(await again.fetch('bob', 0, 10)).toEqual([stored.message]);
    const versions = await sql((c) =>
      c.query<{ version: number }>(`SELECT version FROM ${schema}.${MIGRATIONS_TABLE}`),
    );
    expect(versions.rows.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
  });
});

describe('PostgresMessageStore when the server is not there', () => {
  const bounded = async (work: () => Promise<unknown>, withinMs: number) => {
    const started = Date.now();
    await expect(work()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(withinMs);
  };

  it('rejects promptly when nothing listens', async () => {
    const store = node({ url: 'postgres://postgres@127.0.0.1:1/longlink_test' });
    await bounded(() => store.open(), 2000);
    await bounded(() => store.append([msg('alice', 'bob', 'k')]), 2000);
    await bounded(() => store.fetch('bob', 0, 10), 2000);
  });

  it('rejects after connectTimeoutMs when the server accepts but never answers', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as { port: number };
    try {
      const store = node({ url: `postgres://postgres@127.0.0.1:${port}/x`, connectTimeoutMs: 300 });
      await bounded(() => store.open(), 2000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  it('rejects after queryTimeoutMs when another session holds the inbox', async () => {
    const store = node({ queryTimeoutMs: 300 });
    await store.open();
    await store.append([msg('alice', 'bob', 'k0')]);
    const holder = new Client({ connectionString: POSTGRES_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT * FROM ${schema}.inboxes FOR UPDATE`);
      await bounded(() => store.append([msg('alice', 'bob', 'k1')]), 2000);
      await holder.query('ROLLBACK');
      // The pool recovers: the next append gets the next seq.
      const [next] = await store.append([msg('alice', 'bob', 'k2')]);
      expect(next.message.seq).toBe(2);
    } finally {
      await holder.end();
    }
  });
});
