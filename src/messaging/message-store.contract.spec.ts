import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { MemoryMessageStore } from './memory-message.store';
import { MessageStore } from './message.store';
import { NewMessage } from './message.types';
import { PostgresMessageStore } from './postgres-message.store';
import { SqliteMessageStore } from './sqlite-message.store';

interface StoreFixture {
  name: string;
  /** A fresh, opened store. */
  create(): Promise<MessageStore>;
  /** Closes the store and removes what it left behind. */
  dispose(store: MessageStore): Promise<void>;
}

const memory: StoreFixture = {
  name: 'MemoryMessageStore',
  async create() {
    const store = new MemoryMessageStore();
    await store.open();
    return store;
  },
  dispose: (store) => store.close(),
};

const dirs = new Map<MessageStore, string>();
const sqlite: StoreFixture = {
  name: 'SqliteMessageStore',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'longlink-store-contract-'));
    const store = new SqliteMessageStore(join(dir, 'messages.sqlite'));
    await store.open();
    dirs.set(store, dir);
    return store;
  },
  async dispose(store) {
    await store.close();
    rmSync(dirs.get(store)!, { recursive: true, force: true });
    dirs.delete(store);
  },
};

// Needs a running server (.ci/run starts one): unreachable, these tests fail rather than skip.
const POSTGRES_URL =
  process.env.LONGLINK_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/longlink_test';
const schemas = new Map<MessageStore, string>();
const postgres: StoreFixture = {
  name: 'PostgresMessageStore',
  async create() {
    // A schema per store: tests (and jest workers) never see each other's rows.
    const schema = `contract_${randomBytes(8).toString('hex')}`;
    const store = new PostgresMessageStore({ url: POSTGRES_URL, schema });
    try {
      await store.open();
    } catch (err) {
      await store.close();
      throw new Error(`PostgreSQL at ${POSTGRES_URL}: ${(err as Error).message}`);
    }
    schemas.set(store, schema);
    return store;
  },
  async dispose(store) {
    await store.close();
    const client = new Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${schemas.get(store)} CASCADE`);
    } finally {
      await client.end();
    }
    schemas.delete(store);
  },
};

let ids = 0;
function msg(from: string, to: string, content: unknown = null, clientMsgId?: string): NewMessage {
  return { from, to, clientMsgId: clientMsgId ?? `cm-${++ids}`, content: JSON.stringify(content) };
}

describe.each([memory, sqlite, postgres])('MessageStore contract: $name', (fixture) => {
  let store: MessageStore;
  beforeEach(async () => {
    store = await fixture.create();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await fixture.dispose(store);
  });

  it('assigns seq 1, 2, 3 per recipient, each inbox on its own', async () => {
    const results = await store.append([
      msg('alice', 'bob'),
      msg('alice', 'carol'),
      msg('dave', 'bob'),
      msg('alice', 'carol'),
      msg('alice', 'bob'),
    ]);
    expect(results.map((r) => [r.message.to, r.message.seq, r.duplicate])).toEqual([
      ['bob', 1, false],
      ['carol', 1, false],
      ['bob', 2, false],
      ['carol', 2, false],
      ['bob', 3, false],
    ]);
    const [later] = await store.append([msg('erin', 'carol')]);
    expect(later.message.seq).toBe(3);
    expect(await store.lastSeq('bob')).toBe(3);
    expect(await store.lastSeq('carol')).toBe(3);
    expect(await store.lastSeq('nobody')).toBe(0);
  });

  it('returns stored records with a unique msgId and the batch time', async () => {
    jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
    const input = msg('alice', 'bob', { text: 'hé 😀', n: [1, null] }, 'the-id');
    const [r] = await store.append([input]);
    expect(r).toEqual({
      duplicate: false,
      message: { ...input, msgId: expect.any(String), seq: 1, ts: 1_700_000_000_000 },
    });
    const [other] = await store.append([msg('alice', 'bob')]);
    expect(other.message.msgId).not.toBe(r.message.msgId);
    expect(await store.fetch('bob', 0, 1)).toEqual([r.message]);
  });

  it('applies a batch in order', async () => {
    const batch = Array.from({ length: 50 }, (_, i) => msg(i % 2 ? 'alice' : 'dave', 'bob', i));
    const results = await store.append(batch);
    expect(results.map((r) => r.message.seq)).toEqual(batch.map((_, i) => i + 1));
    const fetched = await store.fetch('bob', 0, 100);
    expect(fetched.map((m) => [m.seq, JSON.parse(m.content), m.clientMsgId])).toEqual(
      batch.map((m, i) => [i + 1, i, m.clientMsgId]),
    );
  });

  it('dedupes by (from, clientMsgId): a resend returns the original record', async () => {
    const [original] = await store.append([msg('alice', 'bob', 'first', 'c-1')]);
    const [again] = await store.append([msg('alice', 'bob', 'second', 'c-1')]);
    expect(again).toEqual({ duplicate: true, message: original.message });
    // Another sender may use the same clientMsgId.
    const [other] = await store.append([msg('dave', 'bob', 'x', 'c-1')]);
    expect(other).toMatchObject({ duplicate: false, message: { seq: 2 } });
    expect(await store.lastSeq('bob')).toBe(2);
    expect((await store.fetch('bob', 0, 10)).map((m) => m.content)).toEqual(['"first"', '"x"']);
  });

  it('dedupes within one batch as well', async () => {
    const results = await store.append([
      msg('alice', 'bob', 'a', 'dup'),
      msg('alice', 'bob', 'b', 'other'),
      msg('alice', 'bob', 'c', 'dup'),
    ]);
    expect(results.map((r) => [r.duplicate, r.message.seq, r.message.content])).toEqual([
      [false, 1, '"a"'],
      [false, 2, '"b"'],
      [true, 1, '"a"'],
    ]);
    expect(results[2].message).toEqual(results[0].message);
    expect(await store.lastSeq('bob')).toBe(2);
  });

  it('keeps senders apart whatever characters their ids contain', async () => {
    // A store that joined the two into one key with a separator would confuse these.
    const [a] = await store.append([msg('alice', 'bob', 1, 'x\u0000y')]);
    const [b] = await store.append([msg('alice\u0000x', 'bob', 2, 'y')]);
    expect([a.duplicate, b.duplicate]).toEqual([false, false]);
    expect(b.message.seq).toBe(2);
  });

  it('pages with fetch(afterSeq, limit)', async () => {
    await store.append(Array.from({ length: 25 }, (_, i) => msg('alice', 'bob', i)));
    const seqs = async (after: number, limit: number) =>
      (await store.fetch('bob', after, limit)).map((m) => m.seq);
    expect(await seqs(0, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await seqs(10, 10)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(await seqs(20, 10)).toEqual([21, 22, 23, 24, 25]);
    expect(await seqs(25, 10)).toEqual([]);
    expect(await seqs(99, 10)).toEqual([]);
    expect(await seqs(3, 1)).toEqual([4]);
    expect(await store.fetch('nobody', 0, 10)).toEqual([]);
    // Paging through everything yields each message once, in order.
    const all: number[] = [];
    for (let after = 0; ;) {
      const page = await seqs(after, 7);
      if (page.length === 0) break;
      all.push(...page);
      after = page[page.length - 1];
    }
    expect(all).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('tracks lastSeq and ackedSeq per inbox', async () => {
    expect(await store.ackedSeq('bob')).toBe(0);
    await store.append([msg('a', 'bob'), msg('a', 'bob'), msg('a', 'bob'), msg('a', 'carol')]);
    await store.ack(new Map([['bob', 2]]));
    expect(await store.lastSeq('bob')).toBe(3);
    expect(await store.ackedSeq('bob')).toBe(2);
    expect(await store.ackedSeq('carol')).toBe(0);
    await store.ack(
      new Map([
        ['bob', 3],
        ['carol', 1],
      ]),
    );
    expect([await store.ackedSeq('bob'), await store.ackedSeq('carol')]).toEqual([3, 1]);
  });

  it('never moves an ack backwards, nor past lastSeq', async () => {
    await store.append([msg('a', 'bob'), msg('a', 'bob'), msg('a', 'bob')]);
    await store.ack(new Map([['bob', 2]]));
    await store.ack(new Map([['bob', 1]]));
    expect(await store.ackedSeq('bob')).toBe(2);
    await store.ack(new Map([['bob', 0]]));
    expect(await store.ackedSeq('bob')).toBe(2);
    await store.ack(new Map([['bob', 50]]));
    expect(await store.ackedSeq('bob')).toBe(3);
    // An ack for an inbox that does not exist changes nothing.
    await store.ack(new Map([['ghost', 5]]));
    expect(await store.ackedSeq('ghost')).toBe(0);
    expect(await store.lastSeq('ghost')).toBe(0);
    // Later messages are not acked by the earlier over-ack.
    await store.append([msg('a', 'bob')]);
    expect([await store.lastSeq('bob'), await store.ackedSeq('bob')]).toEqual([4, 3]);
  });

  it('prunes delivered-and-old and too-old undelivered messages, and keeps the rest fetchable', async () => {
    const now = jest.spyOn(Date, 'now');
    now.mockReturnValue(1000);
    await store.append([msg('a', 'bob', 1), msg('a', 'bob', 2), msg('a', 'bob', 3)]);
    await store.append([msg('a', 'carol', 'c1')]);
    now.mockReturnValue(2000);
    await store.append([msg('a', 'bob', 4), msg('a', 'bob', 5)]);
    now.mockReturnValue(3000);
    await store.append([msg('a', 'bob', 6), msg('a', 'carol', 'c2')]);
    await store.append([msg('a', 'dave', 'd1')]);
    await store.ack(
      new Map([
        ['bob', 4],
        ['dave', 1],
      ]),
    );

    // Delivered before 2500 goes (bob 1–4); undelivered before 1500 goes (carol 1).
    expect(await store.prune(2500, 1500, 1000)).toBe(5);
    const left = async (uid: string) =>
      (await store.fetch(uid, 0, 100)).map((m) => [m.seq, JSON.parse(m.content)]);
    expect(await left('bob')).toEqual([
      [5, 5],
      [6, 6],
    ]);
    expect(await left('carol')).toEqual([[2, 'c2']]);
    expect(await left('dave')).toEqual([[1, 'd1']]);
    expect(await store.fetch('bob', 4, 1)).toMatchObject([{ seq: 5 }]);
    // Sequences and acks survive the prune; new messages continue the inbox.
    expect([await store.lastSeq('bob'), await store.ackedSeq('bob')]).toEqual([6, 4]);
    const [next] = await store.append([msg('a', 'bob', 7)]);
    expect(next.message.seq).toBe(7);
    // Nothing more is old enough.
    expect(await store.prune(2500, 1500, 1000)).toBe(0);
    expect(await store.prune(4000, 1500, 1000)).toBe(1); // dave 1, delivered
    expect(await left('dave')).toEqual([]);
  });

  it('drops at most `limit` per call, and everything due over repeated calls', async () => {
    const now = jest.spyOn(Date, 'now');
    now.mockReturnValue(1000);
    await store.append([1, 2, 3].map((i) => msg('a', 'bob', i)));
    await store.append([1, 2, 3, 4].map((i) => msg('a', 'carol', i)));
    await store.ack(new Map([['bob', 3]]));
    now.mockReturnValue(2000);
    await store.append([msg('a', 'bob', 'young')]);
    await store.ack(new Map([['bob', 4]]));
    // Due: bob 1–3 (delivered) and carol 1–4 (too old); bob 4 is delivered but young.
    const counts = [];
    for (let n = -1; n !== 0;) counts.push((n = await store.prune(1500, 1500, 3)));
    expect(counts).toEqual([3, 3, 1, 0]);
    expect((await store.fetch('bob', 0, 10)).map((m) => m.seq)).toEqual([4]);
    expect(await store.fetch('carol', 0, 10)).toEqual([]);
  });

  it('keeps recent undelivered messages however old the delivered ones are', async () => {
    const now = jest.spyOn(Date, 'now');
    now.mockReturnValue(1000);
    await store.append([msg('a', 'bob', 1), msg('a', 'bob', 2)]);
    now.mockReturnValue(5000);
    await store.append([msg('a', 'bob', 3)]);
    await store.ack(new Map([['bob', 3]]));
    now.mockReturnValue(6000);
    await store.append([msg('a', 'bob', 4)]);
    // Everything delivered goes; the undelivered one is young enough to stay.
    expect(await store.prune(10_000, 2000, 1000)).toBe(3);
    expect((await store.fetch('bob', 0, 10)).map((m) => m.seq)).toEqual([4]);
  });

  it('drops any message older than undeliveredBefore, delivered or not', async () => {
    // MessageStore.prune: "... and any older than undeliveredBefore". Reachable when
    // deliveredRetentionMs > undeliveredMaxAgeMs, which the config schema allows.
    const now = jest.spyOn(Date, 'now');
    now.mockReturnValue(1000);
    await store.append([msg('a', 'bob', 1), msg('a', 'bob', 2)]);
    await store.ack(new Map([['bob', 1]]));
    now.mockReturnValue(9000);
    await store.append([msg('a', 'bob', 3)]);
    expect(await store.prune(500, 1500, 1000)).toBe(2);
    expect((await store.fetch('bob', 0, 10)).map((m) => m.seq)).toEqual([3]);
  });
});

describe('SqliteMessageStore on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'longlink-store-reopen-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const userVersion = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return db.pragma('user_version', { simple: true });
    } finally {
      db.close();
    }
  };

  it('keeps messages, seqs, acks and dedupe across a reopen, at schema version 1', async () => {
    const file = join(dir, 'nested', 'messages.sqlite');
    const first = new SqliteMessageStore(file);
    await first.open();
    const appended = await first.append([
      msg('alice', 'bob', 'one', 'k1'),
      msg('alice', 'bob', 'two', 'k2'),
      msg('alice', 'carol', 'three', 'k3'),
    ]);
    await first.ack(new Map([['bob', 1]]));
    await first.close();
    expect(userVersion(file)).toBe(1);

    const second = new SqliteMessageStore(file);
    await second.open();
    try {
      expect(await second.fetch('bob', 0, 10)).toEqual([appended[0].message, appended[1].message]);
      expect(await second.fetch('carol', 0, 10)).toEqual([appended[2].message]);
      expect([await second.lastSeq('bob'), await second.ackedSeq('bob')]).toEqual([2, 1]);
      const [resent] = await second.append([msg('alice', 'bob', 'again', 'k2')]);
      expect(resent).toEqual({ duplicate: true, message: appended[1].message });
      const [next] = await second.append([msg('alice', 'bob', 'four', 'k4')]);
      expect(next.message.seq).toBe(3);
    } finally {
      await second.close();
    }
    expect(userVersion(file)).toBe(1);
  });
});
