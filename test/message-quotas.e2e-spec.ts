import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { DAY_MS } from '../src/messaging/message-quotas';
import { MESSAGE_STORE, MessageStore } from '../src/messaging/message.store';
import { MsgOp } from '../src/messaging/messaging.ops';
import { ErrorCode } from '../src/transport/error-codes';
import { Op } from '../src/transport/ops';
import {
  MessagingClient,
  MessagingError,
  eventually,
  nextClientMsgId,
} from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';

type Quotas = NonNullable<LonglinkConfigOverrides['messaging']>;

/** Content whose JSON text (what the limits count) is exactly `bytes` UTF-8 bytes. */
const sized = (bytes: number) => 'x'.repeat(bytes - 2);

let uids = 0;
/** A user id no other test uses. */
const uid = (name: string) => `${name}-${++uids}`;

describe.each(['memory', 'sqlite'] as const)('message quotas (%s store)', (store) => {
  let dataDir: string;
  let gw: TestGateway | undefined;

  const start = async (quotas: Quotas): Promise<TestGateway> => {
    gw = await startGateway({ messaging: { store, dataDir, ...quotas } });
    return gw;
  };
  const storeOf = (g: TestGateway) => g.app.get<MessageStore>(MESSAGE_STORE);
  /** A SEND's ERROR, or a failure if it was acknowledged. */
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('the SEND was acknowledged');
      },
      (err: unknown) => err as MessagingError,
    );

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'longlink-quotas-e2e-'));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses content over maxContentBytes with content-too-large, stores nothing, keeps the connection', async () => {
    const g = await start({ maxContentBytes: 64 });
    const [alice, bob] = [uid('alice'), uid('bob')];
    const tx = await MessagingClient.loggedIn(g, alice);
    const tooBig = await refusal(tx.send(bob, sized(65)));
    expect(tooBig).toMatchObject({ code: ErrorCode.ContentTooLarge });
    expect(tooBig.message).toMatch(/messaging\.maxContentBytes = 64 bytes of content; not stored/);
    // UTF-8 bytes of the JSON text: 2 quotes + 31 × 2 = 64 fits, 32 × 2 does not.
    await expect(tx.send(bob, 'é'.repeat(32))).rejects.toMatchObject({
      code: ErrorCode.ContentTooLarge,
    });
    const ok = await tx.send(bob, 'é'.repeat(31));
    expect(ok.seq).toBe(1);
    expect(await storeOf(g).lastSeq(bob)).toBe(1);
    expect((await storeOf(g).fetch(bob, 0, 10)).map((m) => m.content)).toEqual([
      JSON.stringify('é'.repeat(31)),
    ]);
    expect([tx.conn.isClosed, tx.kick]).toEqual([false, undefined]);
  });

  it('refuses past maxInboxMessages with inbox-full until the recipient logs in and acknowledges', async () => {
    const g = await start({ maxInboxMessages: 3 });
    const [alice, carol, bob, dave] = [uid('alice'), uid('carol'), uid('bob'), uid('dave')];
    const tx = await MessagingClient.loggedIn(g, alice);
    const acks = await tx.sendMany(bob, 3, (i) => `m${i}`);
    expect(acks.map((a) => a.seq)).toEqual([1, 2, 3]);
    const full = await refusal(tx.send(bob, 'one too many'));
    expect(full).toMatchObject({ code: ErrorCode.InboxFull });
    expect(full.message).toMatch(/messaging\.maxInboxMessages = 3 /);
    // Any sender, the same inbox; another inbox is not affected.
    const other = await MessagingClient.loggedIn(g, carol);
    await expect(other.send(bob, 'me too')).rejects.toMatchObject({ code: ErrorCode.InboxFull });
    expect((await tx.send(dave, 'fine')).seq).toBe(1);
    expect(await storeOf(g).lastSeq(bob)).toBe(3);

    // bob reads and acknowledges: the inbox frees up.
    const rx = await MessagingClient.loggedIn(g, bob);
    await rx.waitForApp(3);
    await eventually(async () => (await storeOf(g).ackedSeq(bob)) === 3, 'acks stored');
    const later = await tx.sendMany(bob, 3, (i) => `later ${i}`);
    expect(later.map((a) => a.seq)).toEqual([4, 5, 6]);
    await rx.waitForApp(6);
    expect(rx.appSeen.map((m) => m.content)).toEqual([
      'm0',
      'm1',
      'm2',
      'later 0',
      'later 1',
      'later 2',
    ]);
    expect([tx.conn.isClosed, other.conn.isClosed]).toEqual([false, false]);
  });

  it('refuses past maxInboxBytes with inbox-full, and an acknowledgement frees the bytes', async () => {
    const g = await start({ maxInboxBytes: 100 });
    const [alice, bob] = [uid('alice'), uid('bob')];
    const tx = await MessagingClient.loggedIn(g, alice);
    await tx.send(bob, sized(50));
    await tx.send(bob, sized(40));
    const full = await refusal(tx.send(bob, sized(11)));
    expect(full).toMatchObject({ code: ErrorCode.InboxFull });
    expect(full.message).toMatch(/messaging\.maxInboxBytes = 100 /);
    expect((await tx.send(bob, sized(10))).seq).toBe(3);
    const rx = await MessagingClient.loggedIn(g, bob, { autoAck: false });
    await rx.waitForApp(3);
    rx.ack(1);
    await eventually(async () => (await storeOf(g).ackedSeq(bob)) === 1, 'ack 1 stored');
    expect((await tx.send(bob, sized(50))).seq).toBe(4);
    await expect(tx.send(bob, sized(3))).rejects.toMatchObject({ code: ErrorCode.InboxFull });
  });

  it('answers a resend with its stored copy, never a refusal, even with the inbox full and the day used up', async () => {
    const g = await start({ maxInboxMessages: 1, maxSenderMessagesPerDay: 1 });
    const [alice, bob] = [uid('alice'), uid('bob')];
    const tx = await MessagingClient.loggedIn(g, alice);
    const first = await tx.send(bob, 'once', 'same-id');
    expect(await tx.send(bob, 'again', 'same-id')).toEqual(first);
    // Over a new connection too (the ack was lost with the old one).
    const again = await MessagingClient.loggedIn(g, alice);
    expect(await again.send(bob, 'again', 'same-id')).toEqual(first);
    await expect(again.send(bob, 'new')).rejects.toMatchObject({
      code: ErrorCode.DailyQuotaExceeded,
    });
    expect(await storeOf(g).lastSeq(bob)).toBe(1);
  });

  it('refuses past maxSenderMessagesPerDay with daily-quota-exceeded and retryAfterMs until the UTC day ends', async () => {
    const g = await start({ maxSenderMessagesPerDay: 2 });
    const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
    const tx = await MessagingClient.loggedIn(g, alice);
    await tx.send(bob, 1);
    await tx.send(carol, 2);
    const before = Date.now();
    const reply = await tx.request(MsgOp.SEND, {
      to: bob,
      clientMsgId: nextClientMsgId(),
      content: 3,
    });
    const after = Date.now();
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({
      code: ErrorCode.DailyQuotaExceeded,
      message: expect.stringMatching(
        /^daily quota used up: messaging\.maxSenderMessagesPerDay = 2 messages per UTC day; not stored, try again in \d+ (h \d+ min|min|s)$/,
      ),
      retryAfterMs: expect.any(Number),
    });
    const midnight = (Math.floor(after / DAY_MS) + 1) * DAY_MS;
    expect(reply.body.retryAfterMs).toBeGreaterThanOrEqual(Math.min(midnight - after, 1));
    expect(reply.body.retryAfterMs).toBeLessThanOrEqual(
      (Math.floor(before / DAY_MS) + 1) * DAY_MS - before,
    );
    // Another sender is not affected; the refused sender's connection works on.
    const dave = await MessagingClient.loggedIn(g, uid('dave'));
    expect((await dave.send(bob, 'hi')).seq).toBe(2);
    expect(await tx.sync(0)).toBe(0);
    expect(tx.conn.isClosed).toBe(false);
    expect(await storeOf(g).lastSeq(bob)).toBe(2);
  });

  it('refuses past maxSenderBytesPerDay with daily-quota-exceeded', async () => {
    const g = await start({ maxSenderBytesPerDay: 100 });
    const [alice, bob] = [uid('alice'), uid('bob')];
    const tx = await MessagingClient.loggedIn(g, alice);
    await tx.send(bob, sized(60));
    const refused = await refusal(tx.send(bob, sized(41)));
    expect(refused).toMatchObject({ code: ErrorCode.DailyQuotaExceeded });
    expect(refused.message).toMatch(/messaging\.maxSenderBytesPerDay = 100 bytes per UTC day/);
    expect((await tx.send(bob, sized(40))).seq).toBe(2);
  });

  it('refuses single SENDs of one group-commit batch without failing the others', async () => {
    const g = await start({ maxInboxMessages: 4, maxContentBytes: 100 });
    const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
    const tx = await MessagingClient.loggedIn(g, alice);
    const batches: number[] = [];
    const append = storeOf(g).append.bind(storeOf(g));
    jest.spyOn(storeOf(g), 'append').mockImplementation((batch, quotas) => {
      batches.push(batch.length);
      return append(batch, quotas);
    });
    // Written in one chunk: read in one turn, they reach the store as one batch.
    const contents = [1, 2, sized(101), 3, 4, 5, 6];
    tx.conn.socket.cork();
    const sends = [...contents.map((c) => tx.send(bob, c)), tx.send(carol, 'other inbox')];
    tx.conn.socket.uncork();
    const outcomes = await Promise.allSettled(sends);
    expect(batches).toEqual([8]);
    expect(
      outcomes.map((o) =>
        o.status === 'fulfilled' ? o.value.seq : (o.reason as MessagingError).code,
      ),
    ).toEqual([1, 2, ErrorCode.ContentTooLarge, 3, 4, ErrorCode.InboxFull, ErrorCode.InboxFull, 1]);
    expect((await storeOf(g).fetch(bob, 0, 10)).map((m) => m.content)).toEqual([
      '1',
      '2',
      '3',
      '4',
    ]);
  });
});
