import { DeliveryService } from '../src/messaging/delivery.service';
import { MESSAGE_STORE, MessageStore } from '../src/messaging/message.store';
import { MsgOp } from '../src/messaging/messaging.ops';
import { ErrorCode, KickReason } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import {
  MessagingClient,
  MessagingError,
  SendAckBody,
  eventually,
  nextClientMsgId,
} from './support/messaging-client';
import { sleep } from './support/wait';
import { TestGateway, startGateway } from './support/test-gateway';

const SEND_REPLY = (MsgOp.SEND | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

/** 1..n */
const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

let uids = 0;
/** A user id no other test of this file uses (gateways are shared within a describe). */
const uid = (name: string) => `${name}-${++uids}`;

function storeOf(gw: TestGateway): MessageStore {
  return gw.app.get<MessageStore>(MESSAGE_STORE);
}

/** Every run of seqs on one connection goes up by one: no gap, no duplicate. */
function expectContiguous(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) expect([i, seqs[i] - seqs[i - 1]]).toEqual([i, 1]);
}

describe('messaging over TCP (memory store, default settings)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      rateLimit: { maxPackets: 100_000, kickPackets: 100_000 },
    });
  });
  afterAll(() => gw.close());

  it('delivers to an online recipient in order, and the recipient acks', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b);
    const acks: SendAckBody[] = [];
    for (const text of ['one', 'two', 'three']) acks.push(await alice.send(b, { text }));
    expect(acks.map((x) => x.seq)).toEqual([1, 2, 3]);
    await bob.waitForApp(3);
    expect(bob.appSeen).toEqual(
      acks.map((x, i) => ({
        msgId: x.msgId,
        seq: i + 1,
        from: a,
        content: { text: ['one', 'two', 'three'][i] },
        ts: x.ts,
      })),
    );
    expect(bob.pushSeqs()).toEqual([1, 2, 3]);
    await eventually(async () => (await storeOf(gw).ackedSeq(b)) === 3, 'acked seq stored');
    expect(gw.app.get(DeliveryService).inflightCount(b)).toBe(0);
  });

  it('keeps messages for an offline recipient and pushes them all at LOGIN {lastSeq: 0}', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const acks = await alice.sendMany(b, 5, (i) => `offline ${i}`);
    expect(acks.map((x) => x.seq)).toEqual(range(5));

    const bob = await MessagingClient.loggedIn(gw, b, { lastSeq: 0 });
    await bob.waitForApp(5);
    expect(bob.appSeen.map((m) => [m.seq, m.msgId, m.from, m.content])).toEqual(
      acks.map((x, i) => [i + 1, x.msgId, a, `offline ${i}`]),
    );
    expect(bob.pushes).toHaveLength(5);
  });

  it('SYNC {lastSeq} replies with the newest seq and pushes everything after lastSeq', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const acks = await alice.sendMany(b, 5);

    // The client says it holds everything: nothing is pushed.
    const bob = await MessagingClient.loggedIn(gw, b, { lastSeq: 5 });
    await sleep(100);
    expect(bob.pushes).toHaveLength(0);

    expect(await bob.sync(0)).toBe(5);
    await bob.waitForApp(5);
    expect(bob.appSeen.map((m) => m.msgId)).toEqual(acks.map((x) => x.msgId));
    expect(bob.state.seqs()).toEqual(range(5));

    // A lastSeq beyond the inbox is answered with the real newest seq; nothing is re-pushed.
    expect(await bob.sync(99)).toBe(5);
    await sleep(50);
    expect(bob.pushes).toHaveLength(5);
  });

  it('delivers every message exactly once and in order across a relogin mid-stream', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const first = await MessagingClient.loggedIn(gw, b);
    let second: Promise<MessagingClient> | undefined;
    let reloginAt = 0;
    // The app reconnects while pushes keep coming: same state, LOGIN {lastSeq}.
    void first.waitForApp(40).then(() => {
      reloginAt = first.lastSeq;
      second = MessagingClient.loggedIn(gw, b, { state: first.state, lastSeq: first.lastSeq });
    });
    const acks = await alice.sendMany(b, 300, (i) => i, 20);
    await eventually(() => second !== undefined, 'relogin started');
    const bob2 = await second!;
    const more = await alice.sendMany(b, 100, (i) => 300 + i, 20);
    await bob2.waitForApp(400, 5000);

    expect(first.kick?.code).toBe(KickReason.Relogin);
    expect(first.state).toBe(bob2.state);
    expect(bob2.state.seqs()).toEqual(range(400));
    expect(bob2.appSeen.map((m) => m.msgId)).toEqual([...acks, ...more].map((x) => x.msgId));
    expect(bob2.appSeen.map((m) => m.content)).toEqual(range(400, 0));
    expect(bob2.state.gaps).toEqual([]);
    // Each connection on its own got a gap-free run; the second one resumed after lastSeq.
    expect(first.pushes.length).toBeGreaterThanOrEqual(40);
    expectContiguous(first.pushSeqs());
    expectContiguous(bob2.pushSeqs());
    expect(bob2.pushSeqs()[0]).toBe(reloginAt + 1);
    expect(bob2.pushSeqs().at(-1)).toBe(400);
  });

  it('answers a resent SEND (same clientMsgId) with the same msgId and stores nothing new', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b);
    const id = nextClientMsgId();
    const original = await alice.send(b, 'first copy', id);
    // The SEND_ACK was "lost": the client resends, even with other content.
    const resent = await alice.send(b, 'second copy', id);
    expect(resent).toEqual(original);
    // Two copies in flight at once (one batch) dedupe too.
    const id2 = nextClientMsgId();
    const [x, y] = await Promise.all([alice.send(b, 'p', id2), alice.send(b, 'p', id2)]);
    expect(y).toEqual(x);
    expect(x.seq).toBe(2);

    await bob.waitForApp(2);
    await sleep(50);
    expect(await storeOf(gw).lastSeq(b)).toBe(2);
    expect(bob.pushes.map((m) => [m.seq, m.content])).toEqual([
      [1, 'first copy'],
      [2, 'p'],
    ]);
  });

  it('answers a SEND resent over a new connection (the ack was lost with the old one) with the stored msgId', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const store = storeOf(gw);
    const lost = await MessagingClient.loggedIn(gw, a);
    const id = nextClientMsgId();
    lost.conn.send(MsgOp.SEND, { to: b, clientMsgId: id, content: 'sent once' });
    await eventually(async () => (await store.lastSeq(b)) === 1, 'stored');
    lost.close();

    const alice = await MessagingClient.loggedIn(gw, a);
    const ack = await alice.send(b, 'sent once', id);
    const [stored] = await store.fetch(b, 0, 10);
    expect(ack).toEqual({ clientMsgId: id, msgId: stored.msgId, seq: 1, ts: stored.ts });
    const bob = await MessagingClient.loggedIn(gw, b);
    await bob.waitForApp(1);
    await sleep(50);
    expect(bob.pushes.map((m) => m.msgId)).toEqual([stored.msgId]);
    expect(await store.lastSeq(b)).toBe(1);
  });

  it("keeps a sender's order across the offline/online boundary", async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    await alice.sendMany(b, 500, (i) => i);
    const bob = await MessagingClient.loggedIn(gw, b, { lastSeq: 0 });
    // More while the backlog is still being pushed.
    const live = alice.sendMany(b, 200, (i) => 500 + i, 10);
    await bob.waitForApp(700, 5000);
    await live;
    expect(bob.pushes.length).toBeGreaterThan(0);
    expect(bob.state.seqs()).toEqual(range(700));
    expect(bob.appSeen.map((m) => m.content)).toEqual(range(700, 0));
    expect(bob.pushSeqs()).toEqual(range(700));
  });

  it('pushes a message stored while the login still reads the inbox (a slow, truly async store)', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const store = storeOf(gw);
    const alice = await MessagingClient.loggedIn(gw, a);
    // Reads take a while, as with a database over the network (the MessageStore contract is async).
    const lastSeq = store.lastSeq.bind(store);
    const slow = jest.spyOn(store, 'lastSeq').mockImplementation(async (u) => {
      const seq = await lastSeq(u);
      await sleep(100);
      return seq;
    });
    try {
      const bob = await MessagingClient.loggedIn(gw, b);
      // The login's inbox read is under way: this message is stored in the meantime.
      const ack = await alice.send(b, 'during login');
      await bob.waitForApp(1, 1000);
      expect(bob.appSeen[0].msgId).toBe(ack.msgId);
    } finally {
      slow.mockRestore();
    }
  });

  it('round-trips any JSON value as content', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const contents: unknown[] = [
      'plain',
      '',
      0,
      -12.5e-7,
      Number.MAX_SAFE_INTEGER,
      true,
      false,
      null,
      [],
      {},
      [1, 'two', [3, [4, null]], { five: 5 }],
      { a: { b: { c: { d: [{ e: 'deep' }] } } }, 'key with "quotes"': '\\' },
      'héllo 世界 😀 \u2028\u2029 \u0000 \ud800',
      { '😀': ['ключ', 'مفتاح'], constructor: 'x', toString: 1 },
    ];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b);
    for (const c of contents) await alice.send(b, c);
    await bob.waitForApp(contents.length);
    expect(bob.appSeen.map((m) => m.content)).toEqual(contents);
  });

  it('delivers a message to oneself', async () => {
    const a = uid('alice');
    const alice = await MessagingClient.loggedIn(gw, a);
    const ack = await alice.send(a, 'note to self');
    expect(ack.seq).toBe(1);
    await alice.waitForApp(1);
    expect(alice.appSeen).toEqual([
      { msgId: ack.msgId, seq: 1, from: a, content: 'note to self', ts: ack.ts },
    ]);
  });

  it('accepts a message to a user never seen and delivers it when that user logs in', async () => {
    const [a, c] = [uid('alice'), uid('newcomer')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const ack = await alice.send(c, 'welcome');
    expect(ack.seq).toBe(1);
    const carol = await MessagingClient.loggedIn(gw, c);
    await carol.waitForApp(1);
    expect(carol.appSeen[0]).toMatchObject({ msgId: ack.msgId, from: a, content: 'welcome' });
  });

  it('ignores a spoofed `from` in the SEND body: the push names the session user', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b);
    const reply = await alice.request(MsgOp.SEND, {
      to: b,
      clientMsgId: nextClientMsgId(),
      content: 'trust me',
      from: 'the-boss',
      msgId: 'forged',
      seq: 999,
    });
    expect(reply.op).toBe(SEND_REPLY);
    await bob.waitForApp(1);
    expect(bob.appSeen[0]).toEqual({
      msgId: reply.body.msgId,
      seq: 1,
      from: a,
      content: 'trust me',
      ts: reply.body.ts,
    });
    expect(reply.body.msgId).not.toBe('forged');
  });

  it('refuses SEND before login with not-logged-in', async () => {
    const anon = await MessagingClient.connect(gw);
    const reply = await anon.request(MsgOp.SEND, { to: 'bob', clientMsgId: 'x', content: 1 });
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body.code).toBe(ErrorCode.NotLoggedIn);
    expect(await storeOf(gw).lastSeq('bob')).toBe(0);
  });

  it.each([
    ['to is missing', { clientMsgId: 'm1', content: 1 }, /^to: /],
    ['to is empty', { to: '', clientMsgId: 'm1', content: 1 }, /^to: /],
    ['clientMsgId is a number', { to: 'x', clientMsgId: 42, content: 1 }, /^clientMsgId: /],
    ['clientMsgId is missing', { to: 'x', content: 1 }, /^clientMsgId: /],
    ['content is missing', { to: 'x', clientMsgId: 'm1' }, /^content: /],
    ['the body is an array', ['x', 'm1', 1], /body/],
  ])(
    'answers a malformed SEND (%s) with bad-request naming the field',
    async (_, body, message) => {
      const a = uid('alice');
      const alice = await MessagingClient.loggedIn(gw, a);
      const reply = await alice.request(MsgOp.SEND, body);
      expect(reply.op).toBe(Op.ERROR);
      expect(reply.body.code).toBe(ErrorCode.BadRequest);
      expect(reply.body.message).toMatch(message);
      expect(await storeOf(gw).lastSeq('x')).toBe(0);
      // The connection survives.
      expect((await alice.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    },
  );
});

describe('retransmission (ackTimeoutMs 150, maxPushAttempts 3)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ messaging: { ackTimeoutMs: 150, maxPushAttempts: 3 } });
  });
  afterAll(() => gw.close());

  it('pushes again after a lost PUSH_ACK, and the application sees the message once', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b);
    bob.dropNextAcks(1);
    const sentAt = Date.now();
    const ack = await alice.send(b, 'are you there?');
    await bob.waitForPushes(2, 2000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(100);
    expect(bob.pushes.map((m) => m.msgId)).toEqual([ack.msgId, ack.msgId]);
    expect(bob.acksDropped).toEqual([1]);
    expect(bob.appSeen).toHaveLength(1);
    // The second ack got through: no third push.
    await sleep(400);
    expect(bob.pushes).toHaveLength(2);
    expect(gw.app.get(DeliveryService).inflightCount(b)).toBe(0);
  });

  it('stops pushing after maxPushAttempts until the client SYNCs', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b, { autoAck: false });
    const first = await alice.send(b, 'one');
    await bob.waitForPushes(3, 2000);
    await sleep(400);
    expect(bob.pushSeqs()).toEqual([1, 1, 1]);

    // Stalled: a new message is not pushed either.
    const second = await alice.send(b, 'two');
    await sleep(300);
    expect(bob.pushes).toHaveLength(3);
    expect(bob.appSeen.map((m) => m.msgId)).toEqual([first.msgId]);

    bob.autoAck = true;
    expect(await bob.sync(0)).toBe(2);
    await bob.waitForApp(2);
    expect(bob.appSeen.map((m) => m.msgId)).toEqual([first.msgId, second.msgId]);
    expect(bob.pushSeqs()).toEqual([1, 1, 1, 1, 2]);
  });

  it('records a PUSH_ACK that comes after the retries ran out, and still waits for SYNC', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b, { autoAck: false });
    await alice.send(b, 'one');
    await bob.waitForPushes(3, 2000);
    await sleep(300);
    expect(bob.pushSeqs()).toEqual([1, 1, 1]);

    // The client's ack for seq 1 finally gets through; then a second message arrives.
    bob.ack(1);
    await alice.send(b, 'two');
    await sleep(300);
    expect(await gw.app.get<MessageStore>(MESSAGE_STORE).ackedSeq(b)).toBe(1);
    expect(bob.pushSeqs()).toEqual([1, 1, 1]);
  });
});

describe('the un-acked push window (pushWindow 8)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ messaging: { pushWindow: 8, ackTimeoutMs: 60_000 } });
  });
  afterAll(() => gw.close());

  it('pushes at most pushWindow messages un-acked, and more as acks come', async () => {
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const bob = await MessagingClient.loggedIn(gw, b, { autoAck: false });
    await alice.sendMany(b, 20);
    await bob.waitForPushes(8);
    await sleep(150);
    expect(bob.pushSeqs()).toEqual(range(8));
    expect(gw.app.get(DeliveryService).inflightCount(b)).toBe(8);

    bob.ack(4);
    await bob.waitForPushes(12);
    await sleep(150);
    expect(bob.pushSeqs()).toEqual(range(12));

    // Single acks open the window as well.
    bob.ackSeqs([5, 6]);
    await bob.waitForPushes(14);
    await sleep(150);
    expect(bob.pushSeqs()).toEqual(range(14));
    expect(gw.app.get(DeliveryService).inflightCount(b)).toBe(8);
  });
});

describe('a backlog of 10,000 messages (syncPageSize 200, pushWindow 256)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      messaging: { syncPageSize: 200, pushWindow: 256 },
      rateLimit: { maxPackets: 1_000_000, kickPackets: 1_000_000 },
    });
  });
  afterAll(() => gw.close());

  it('arrives complete, in order, exactly once, read from the store in pages', async () => {
    const N = 10_000;
    const [a, b] = [uid('alice'), uid('bob')];
    const alice = await MessagingClient.loggedIn(gw, a);
    const acks = await alice.sendMany(b, N, (i) => i, 500);
    expect(acks.map((x) => x.seq)).toEqual(range(N));

    const store = storeOf(gw);
    const fetch = jest.spyOn(store, 'fetch');
    try {
      const bob = await MessagingClient.loggedIn(gw, b, { lastSeq: 0 });
      await bob.waitForApp(N, 10_000);
      expect(bob.state.seqs()).toEqual(range(N));
      expect(bob.appSeen.map((m) => m.content)).toEqual(range(N, 0));
      expect(bob.pushes).toHaveLength(N);
      const limits = fetch.mock.calls.map(([, , limit]) => limit);
      expect(Math.max(...limits)).toBeLessThanOrEqual(200);
      expect(limits.length).toBeGreaterThanOrEqual(N / 200);
      await eventually(async () => (await store.ackedSeq(b)) === N, 'all acked');
    } finally {
      fetch.mockRestore();
    }
  });
});

describe("recipients: 'allowed' with a user whitelist", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      messaging: { recipients: 'allowed' },
      access: { userWhitelist: ['alice', 'bob'] },
    });
  });
  afterAll(() => gw.close());

  it('refuses a recipient outside the whitelist with unknown-recipient, and stores nothing', async () => {
    const alice = await MessagingClient.loggedIn(gw, 'alice');
    const bob = await MessagingClient.loggedIn(gw, 'bob');
    await expect(alice.send('mallory', 'psst')).rejects.toMatchObject({
      code: ErrorCode.UnknownRecipient,
    });
    await expect(alice.send('mallory', 'psst')).rejects.toBeInstanceOf(MessagingError);
    expect(await storeOf(gw).lastSeq('mallory')).toBe(0);
    // Allowed recipients still work.
    const ack = await alice.send('bob', 'hi');
    await bob.waitForApp(1);
    expect(bob.appSeen[0].msgId).toBe(ack.msgId);
  });
});
