import { randomBytes } from 'node:crypto';
import { createServer, Server, Socket } from 'node:net';
import { Client } from 'pg';
import { AppendOutcome, MessageQuotas, NewMessage } from './message.types';
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

const quotas = (q: Partial<MessageQuotas>): MessageQuotas => ({
  maxContentBytes: null,
  maxInboxMessages: null,
  maxInboxBytes: null,
  maxSenderMessagesPerDay: null,
  maxSenderBytesPerDay: null,
  ...q,
});
const storedOf = (results: AppendOutcome[][]) => results.flat().filter((r) => !r.refused);

/** What the counted inbox rows say against what a count of their messages says. */
async function pendingCounts(): Promise<{ kept: string[]; counted: string[] }> {
  const row = (r: { uid: string; n: string; b: string }) => `${r.uid}:${r.n}:${r.b}`;
  const kept = await sql((c) =>
    c.query(`SELECT convert_from(uid, 'UTF8') AS uid, pending_messages AS n, pending_bytes AS b
             FROM ${schema}.inboxes WHERE last_seq > 0 AND counted ORDER BY 1`),
  );
  const counted = await sql((c) =>
    c.query(`SELECT convert_from(i.uid, 'UTF8') AS uid, count(m.seq) AS n,
               coalesce(sum(octet_length(m.content)), 0) AS b
             FROM ${schema}.inboxes AS i LEFT JOIN ${schema}.messages AS m
               ON m.to_uid = i.uid AND m.seq > i.acked_seq
             WHERE i.last_seq > 0 AND i.counted GROUP BY i.uid ORDER BY 1`),
  );
  return { kept: kept.rows.map(row), counted: counted.rows.map(row) };
}

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

  it('never lets two nodes appending to one inbox at once exceed maxInboxMessages', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    const q = quotas({ maxInboxMessages: 50, maxInboxBytes: 10_000 });
    // 2 × 100 messages in batches of 10, all in flight at once.
    const results = await Promise.all(
      range(20).map((k) =>
        (k % 2 ? a : b).append(
          range(10).map((i) => msg(`s${k}`, 'bob', `${i}`)),
          q,
        ),
      ),
    );
    const stored = storedOf(results);
    expect(stored).toHaveLength(50);
    expect(results.flat().filter((r) => r.refused === 'inbox-full')).toHaveLength(150);
    expect(stored.map((r) => r.message!.seq).sort((x, y) => x - y)).toEqual(range(50));
    expect(await a.lastSeq('bob')).toBe(50);
  });

  it('never lets one sender through two nodes at once exceed its daily quota', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    const q = quotas({ maxSenderMessagesPerDay: 30 });
    const results = await Promise.all(
      range(20).map((k) =>
        (k % 2 ? a : b).append(
          range(10).map((i) => msg('alice', `r${(k + i) % 7}`, `${k}-${i}`)),
          q,
        ),
      ),
    );
    expect(storedOf(results)).toHaveLength(30);
    const refused = results.flat().filter((r) => r.refused);
    expect(refused).toHaveLength(170);
    expect(refused.every((r) => r.refused === 'daily-quota-exceeded' && r.retryAfterMs! > 0)).toBe(
      true,
    );
  });

  it('keeps the inbox counts exact while nodes append, acknowledge and prune at once', async () => {
    const [a, b] = [node(), node()];
    await Promise.all([a.open(), b.open()]);
    const q = quotas({ maxInboxMessages: 40 });
    const inboxes = ['bob', 'carol', 'erin'];
    let acked = 0;
    const work = range(30).map(async (k) => {
      await (k % 2 ? a : b).append(
        inboxes.map((to, i) => msg(`s${k}`, to, `${k}-${i}`, 'x'.repeat(k))),
        q,
      );
      if (k % 3 === 0) await (k % 2 ? b : a).ack(new Map(inboxes.map((u) => [u, (acked += 2)])));
      // Everything unacknowledged is "too old": the prune drops it while appends go on.
      if (k % 5 === 0) await (k % 2 ? a : b).prune(0, Date.now() - 1, 7);
    });
    await Promise.all(work);
    const { kept, counted } = await pendingCounts();
    expect(kept).toEqual(counted);
    expect(kept).toHaveLength(3);
  });

  it('migrates a version 1 schema, counting its unacknowledged messages', async () => {
    await sql(async (c) => {
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.query(`SET search_path = ${schema}`);
      await c.query(POSTGRES_MIGRATIONS[0].sql);
      await c.query(`CREATE TABLE ${MIGRATIONS_TABLE} (version integer PRIMARY KEY,
                       applied_at timestamptz NOT NULL DEFAULT now())`);
      await c.query(`INSERT INTO ${MIGRATIONS_TABLE} (version) VALUES (1)`);
      await c.query(
        `INSERT INTO messages SELECT 'bob'::bytea, s, 'm' || s, 'alice'::bytea,
           ('k' || s)::bytea, '"é"', 1 FROM generate_series(1, 4) AS s`,
      );
      await c.query(`INSERT INTO inboxes VALUES ('bob'::bytea, 4, 1)`);
    });
    const store = node();
    await store.open();
    // Seqs 2–4 wait (4 bytes each): a fourth fits, a fifth does not.
    const results = await store.append(
      [msg('a', 'bob', 'n1'), msg('a', 'bob', 'n2')],
      quotas({ maxInboxMessages: 4 }),
    );
    expect(results.map((r) => r.refused ?? r.message.seq)).toEqual([5, 'inbox-full']);
    const { kept, counted } = await pendingCounts();
    expect(kept).toEqual(['bob:4:16']);
    expect(counted).toEqual(kept);
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
