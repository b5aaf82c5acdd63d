import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { MemoryMessageStore } from './memory-message.store';
import { MessageStore } from './message.store';
import { AppendOutcome, MessageQuotas, NewMessage } from './message.types';
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

const OFF: MessageQuotas = {
  maxContentBytes: null,
  maxInboxMessages: null,
  maxInboxBytes: null,
  maxSenderMessagesPerDay: null,
  maxSenderBytesPerDay: null,
};
const limits = (q: Partial<MessageQuotas>): MessageQuotas => ({ ...OFF, ...q });
/** An outcome in short: the seq stored, 'dup' for a resend, or the refusal's code. */
const short = (r: AppendOutcome) =>
  r.refused !== undefined ? r.refused : r.duplicate ? 'dup' : r.message.seq;
/** Content whose JSON text is exactly `bytes` UTF-8 bytes (a string of 'x'). */
const sized = (bytes: number) => 'x'.repeat(bytes - 2);

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

  describe('quotas', () => {
    it('refuses content over maxContentBytes, counted in UTF-8 bytes, storing nothing for it', async () => {
      const q = limits({ maxContentBytes: 10 });
      const results = await store.append(
        [
          msg('alice', 'bob', sized(10)),
          msg('alice', 'bob', sized(11), 'big'),
          msg('alice', 'bob', 'éééé'), // 10 bytes as JSON: two quotes and 4 × 2
          msg('alice', 'bob', 'ééééé'),
        ],
        q,
      );
      expect(results.map(short)).toEqual([1, 'content-too-large', 2, 'content-too-large']);
      expect(results[1]).toEqual({ refused: 'content-too-large', limit: 'maxContentBytes' });
      expect(await store.lastSeq('bob')).toBe(2);
      expect((await store.fetch('bob', 0, 10)).map((m) => JSON.parse(m.content))).toEqual([
        sized(10),
        'éééé',
      ]);
      // A refused clientMsgId was not taken: sent again small enough, it is stored.
      const [again] = await store.append([msg('alice', 'bob', 'ok', 'big')], q);
      expect(short(again)).toBe(3);
      // Without quotas nothing is refused.
      expect((await store.append([msg('alice', 'bob', sized(5000))])).map(short)).toEqual([4]);
    });

    it('refuses past maxInboxMessages unacknowledged until the recipient acknowledges', async () => {
      const q = limits({ maxInboxMessages: 3 });
      const first = await store.append(
        [1, 2, 3, 4].map((i) => msg('alice', 'bob', i)),
        q,
      );
      expect(first.map(short)).toEqual([1, 2, 3, 'inbox-full']);
      expect(first[3]).toEqual({ refused: 'inbox-full', limit: 'maxInboxMessages' });
      // Another sender is refused too; another inbox is not.
      const other = await store.append([msg('dave', 'bob'), msg('dave', 'carol')], q);
      expect(other.map(short)).toEqual(['inbox-full', 1]);
      expect(await store.lastSeq('bob')).toBe(3);

      await store.ack(new Map([['bob', 2]]));
      const after = await store.append(
        [5, 6, 7].map((i) => msg('alice', 'bob', i)),
        q,
      );
      expect(after.map(short)).toEqual([4, 5, 'inbox-full']);
      // An ack past lastSeq frees what is there, no more.
      await store.ack(new Map([['bob', 99]]));
      const later = await store.append(
        [8, 9, 10, 11].map((i) => msg('alice', 'bob', i)),
        q,
      );
      expect(later.map(short)).toEqual([6, 7, 8, 'inbox-full']);
      expect((await store.fetch('bob', 0, 20)).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('refuses past maxInboxBytes unacknowledged, and an ack frees their bytes', async () => {
      const q = limits({ maxInboxBytes: 25 });
      const results = await store.append(
        [
          msg('alice', 'bob', sized(10)),
          msg('alice', 'bob', sized(10)),
          msg('alice', 'bob', sized(10)),
          msg('alice', 'bob', sized(5)),
          msg('alice', 'bob', sized(3)),
        ],
        q,
      );
      expect(results.map(short)).toEqual([1, 2, 'inbox-full', 3, 'inbox-full']);
      expect(results[2]).toEqual({ refused: 'inbox-full', limit: 'maxInboxBytes' });
      await store.ack(new Map([['bob', 1]]));
      const after = await store.append(
        [msg('a', 'bob', sized(10)), msg('a', 'bob', sized(1 + 2))],
        q,
      );
      expect(after.map(short)).toEqual([4, 'inbox-full']);
    });

    it('refuses single messages of a batch without failing the others, seqs without gaps', async () => {
      const q = limits({ maxInboxMessages: 2, maxContentBytes: 10 });
      const results = await store.append(
        [
          msg('alice', 'bob', 1),
          msg('alice', 'carol', sized(11)),
          msg('dave', 'bob', 2),
          msg('alice', 'bob', 3),
          msg('alice', 'carol', 4),
          msg('erin', 'dave', 5),
        ],
        q,
      );
      expect(results.map(short)).toEqual([1, 'content-too-large', 2, 'inbox-full', 1, 1]);
      expect(results.filter((r) => r.message).map((r) => r.message!.content)).toEqual([
        '1',
        '2',
        '4',
        '5',
      ]);
      expect([await store.lastSeq('bob'), await store.lastSeq('carol')]).toEqual([2, 1]);
      expect((await store.fetch('bob', 0, 10)).map((m) => m.content)).toEqual(['1', '2']);
    });

    it('never refuses nor counts again a resend (same from, clientMsgId)', async () => {
      const q = limits({ maxInboxMessages: 2, maxSenderMessagesPerDay: 2 });
      const [original] = await store.append([msg('alice', 'bob', 'one', 'c-1')], q);
      // Within one batch: the resend is a duplicate and counts once.
      const batch = await store.append(
        [msg('alice', 'bob', 'one', 'c-1'), msg('alice', 'bob', 'two', 'c-2')],
        q,
      );
      expect(batch.map(short)).toEqual(['dup', 2]);
      expect(batch[0]).toEqual({ duplicate: true, message: original.message });
      // Inbox full and the day's quota used up: resends still get their stored copy.
      const resent = await store.append(
        [msg('alice', 'bob', 'x', 'c-2'), msg('alice', 'bob', 'x', 'c-1'), msg('alice', 'bob')],
        q,
      );
      expect(resent.map(short)).toEqual(['dup', 'dup', 'daily-quota-exceeded']);
      // A message refused in a batch takes its resends in the same batch with it.
      const twice = await store.append(
        [msg('dave', 'bob', 'n', 'c-9'), msg('dave', 'bob', 'n', 'c-9')],
        q,
      );
      expect(twice.map(short)).toEqual(['inbox-full', 'inbox-full']);
      expect(await store.lastSeq('bob')).toBe(2);
    });

    it('limits each sender per UTC day, with retryAfterMs until midnight UTC', async () => {
      const now = jest.spyOn(Date, 'now');
      now.mockReturnValue(Date.UTC(2026, 0, 1, 22, 0, 0));
      const q = limits({ maxSenderMessagesPerDay: 2 });
      const results = await store.append(
        [msg('alice', 'bob'), msg('alice', 'carol'), msg('alice', 'dave'), msg('erin', 'bob')],
        q,
      );
      expect(results.map(short)).toEqual([1, 1, 'daily-quota-exceeded', 2]);
      expect(results[2]).toEqual({
        refused: 'daily-quota-exceeded',
        limit: 'maxSenderMessagesPerDay',
        retryAfterMs: 2 * 3600 * 1000,
      });
      now.mockReturnValue(Date.UTC(2026, 0, 1, 23, 59, 59, 999));
      const [last] = await store.append([msg('alice', 'bob')], q);
      expect(last).toMatchObject({ refused: 'daily-quota-exceeded', retryAfterMs: 1 });
      // A new UTC day starts the counts again.
      now.mockReturnValue(Date.UTC(2026, 0, 2, 0, 0, 0));
      const next = await store.append(
        [1, 2, 3].map(() => msg('alice', 'bob')),
        q,
      );
      expect(next.map(short)).toEqual([3, 4, 'daily-quota-exceeded']);
    });

    it('limits the bytes a sender stores per UTC day; refused messages do not count', async () => {
      const now = jest.spyOn(Date, 'now');
      now.mockReturnValue(Date.UTC(2026, 5, 30, 12, 0, 0));
      const q = limits({ maxSenderBytesPerDay: 25, maxInboxMessages: 1 });
      const results = await store.append(
        [
          msg('alice', 'bob', sized(10)),
          msg('alice', 'bob', sized(10)), // inbox-full: not counted for alice's day
          msg('alice', 'carol', sized(10)),
          msg('alice', 'dave', sized(10)),
          msg('alice', 'dave', sized(5)),
        ],
        q,
      );
      expect(results.map(short)).toEqual([1, 'inbox-full', 1, 'daily-quota-exceeded', 1]);
      expect(results[3]).toEqual({
        refused: 'daily-quota-exceeded',
        limit: 'maxSenderBytesPerDay',
        retryAfterMs: 12 * 3600 * 1000,
      });
    });

    it('frees inbox quota when unacknowledged messages are pruned, not twice for acknowledged ones', async () => {
      const now = jest.spyOn(Date, 'now');
      const q = limits({ maxInboxMessages: 3, maxInboxBytes: 1000 });
      now.mockReturnValue(1000);
      await store.append(
        [1, 2, 3].map((i) => msg('a', 'bob', i)),
        q,
      );
      await store.ack(new Map([['bob', 1]]));
      now.mockReturnValue(5000);
      expect((await store.append([msg('a', 'bob', 4)], q)).map(short)).toEqual([4]);
      expect((await store.append([msg('a', 'bob', 5)], q)).map(short)).toEqual(['inbox-full']);
      // Drops seq 1 (acknowledged, counted no more) and 2–3 (unacknowledged and too old).
      expect(await store.prune(2000, 2000, 1000)).toBe(3);
      const after = await store.append(
        [5, 6, 7].map((i) => msg('a', 'bob', i)),
        q,
      );
      expect(after.map(short)).toEqual([5, 6, 'inbox-full']);
    });

    it('counts right when appends with and without inbox quotas take turns', async () => {
      const q = limits({ maxInboxMessages: 3 });
      await store.append([msg('a', 'bob', 1)], q);
      await store.append([msg('a', 'bob', 2)]);
      await store.append([msg('a', 'bob', 3)], limits({ maxContentBytes: 100 }));
      await store.ack(new Map([['bob', 1]]));
      // Seqs 2 and 3 wait.
      const next = await store.append([msg('a', 'bob', 4), msg('a', 'bob', 5)], q);
      expect(next.map(short)).toEqual([4, 'inbox-full']);
      await store.ack(new Map([['bob', 3]]));
      const later = await store.append(
        [6, 7, 8].map((i) => msg('a', 'bob', i)),
        q,
      );
      expect(later.map(short)).toEqual([5, 6, 'inbox-full']);
    });

    it('counts what was stored while quotas were off once they are on', async () => {
      await store.append([1, 2, 3].map(() => msg('a', 'bob', sized(10))));
      await store.ack(new Map([['bob', 1]]));
      const q = limits({ maxInboxMessages: 3, maxInboxBytes: 30 });
      expect((await store.append([msg('a', 'bob', sized(10))], q)).map(short)).toEqual([4]);
      const full = await store.append([msg('a', 'bob', 'x')], q);
      expect(full).toEqual([{ refused: 'inbox-full', limit: 'maxInboxMessages' }]);
      await store.ack(new Map([['bob', 4]]));
      expect((await store.append([msg('a', 'bob', sized(30))], q)).map(short)).toEqual([5]);
    });
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

  it('keeps messages, seqs, acks and dedupe across a reopen, at schema version 2', async () => {
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
    expect(userVersion(file)).toBe(2);

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
    expect(userVersion(file)).toBe(2);
  });

  it('migrates a version 1 file, counting its unacknowledged messages for the inbox quotas', async () => {
    const file = join(dir, 'v1.sqlite');
    const v1 = new Database(file);
    // The version 1 schema, as released.
    v1.exec(`CREATE TABLE messages (
       recipient TEXT NOT NULL, seq INTEGER NOT NULL, msg_id TEXT NOT NULL, sender TEXT NOT NULL,
       client_msg_id TEXT NOT NULL, content TEXT NOT NULL, ts INTEGER NOT NULL,
       PRIMARY KEY (recipient, seq)) WITHOUT ROWID;
     CREATE UNIQUE INDEX messages_by_sender ON messages (sender, client_msg_id);
     CREATE INDEX messages_by_ts ON messages (ts);
     CREATE TABLE inboxes (uid TEXT PRIMARY KEY, last_seq INTEGER NOT NULL,
       acked_seq INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;`);
    const insert = v1.prepare('INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)');
    for (let seq = 1; seq <= 4; seq++)
      insert.run('bob', seq, `m${seq}`, 'alice', `k${seq}`, '"é"', 1);
    v1.prepare('INSERT INTO inboxes VALUES (?, ?, ?)').run('bob', 4, 1);
    v1.pragma('user_version = 1');
    v1.close();

    const store = new SqliteMessageStore(file);
    await store.open();
    try {
      expect(userVersion(file)).toBe(2);
      // Seqs 2–4 wait, 4 bytes each: a fourth message fits, not a fifth.
      const q = limits({ maxInboxMessages: 4 });
      expect((await store.append([msg('a', 'bob'), msg('a', 'bob')], q)).map(short)).toEqual([
        5,
        'inbox-full',
      ]);
      // 12 bytes + 4 (seq 5, null) + 4 ("ab") fit in 21; 2 more ("") do not.
      const bytes = limits({ maxInboxBytes: 21 });
      expect((await store.append([msg('a', 'bob', 'ab')], bytes)).map(short)).toEqual([6]);
      expect((await store.append([msg('a', 'bob', '')], bytes)).map(short)).toEqual(['inbox-full']);
    } finally {
      await store.close();
    }
  });
});
