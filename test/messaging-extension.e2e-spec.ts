import { Subscription } from 'rxjs';
import { MessageStoredEvent } from '../src/messaging/message-events';
import { MESSAGE_STORE, MessageStore } from '../src/messaging/message.store';
import { MsgOp } from '../src/messaging/messaging.ops';
import { MessagingService } from '../src/messaging/messaging.service';
import { ErrorCode } from '../src/transport/error-codes';
import { Op } from '../src/transport/ops';
import { BlockService } from './example-blocking/block.service';
import { BlockingModule } from './example-blocking/blocking.module';
import { MessagingClient, nextClientMsgId } from './support/messaging-client';
import { sleep } from './support/wait';
import { TestGateway, startGateway } from './support/test-gateway';

describe('extending messaging with a feature module', () => {
  let gw: TestGateway;
  let blocks: BlockService;
  let store: MessageStore;
  let stored: MessageStoredEvent[];
  let subscription: Subscription;

  beforeAll(async () => {
    gw = await startGateway({}, [BlockingModule]);
    blocks = gw.app.get(BlockService);
    store = gw.app.get<MessageStore>(MESSAGE_STORE);
  });
  afterAll(() => gw.close());

  beforeEach(() => {
    stored = [];
    subscription = gw.app.get(MessagingService).stored$.subscribe((e) => stored.push(e));
  });
  afterEach(() => subscription.unsubscribe());

  it('refuses a SEND to a recipient who blocked the sender: ERROR blocked, nothing stored or pushed', async () => {
    blocks.block('bob1', 'alice1');
    const alice = await MessagingClient.loggedIn(gw, 'alice1');
    const bob = await MessagingClient.loggedIn(gw, 'bob1');
    const reply = await alice.request(MsgOp.SEND, {
      to: 'bob1',
      clientMsgId: nextClientMsgId(),
      content: 'let me in',
    });
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({
      code: 'blocked',
      message: 'bob1 does not accept messages from alice1',
    });
    await sleep(100);
    expect(bob.pushes).toHaveLength(0);
    expect(await store.lastSeq('bob1')).toBe(0);
    expect(stored).toHaveLength(0);
  });

  it('lets unblocked messages through, and the blocked sender again once unblocked', async () => {
    blocks.block('bob2', 'alice2');
    const alice = await MessagingClient.loggedIn(gw, 'alice2');
    const carol = await MessagingClient.loggedIn(gw, 'carol2');
    const bob = await MessagingClient.loggedIn(gw, 'bob2');

    const fromCarol = await carol.send('bob2', 'hi from carol');
    // Blocking is per recipient: alice may still write to carol.
    const toCarol = await alice.send('carol2', 'hi carol');
    await expect(alice.send('bob2', 'hello?')).rejects.toMatchObject({ code: 'blocked' });

    blocks.unblock('bob2', 'alice2');
    const fromAlice = await alice.send('bob2', 'hello again');
    await bob.waitForApp(2);
    await carol.waitForApp(1);
    expect(bob.appSeen.map((m) => [m.seq, m.from, m.content])).toEqual([
      [1, 'carol2', 'hi from carol'],
      [2, 'alice2', 'hello again'],
    ]);
    expect([fromCarol.seq, fromAlice.seq, toCarol.seq]).toEqual([1, 2, 1]);
  });

  it('leaves the other ops alone: the guard only looks at MSG_SEND', async () => {
    blocks.block('bob3', 'alice3');
    const alice = await MessagingClient.loggedIn(gw, 'alice3');
    expect(await alice.sync(0)).toBe(0);
    const ping = await alice.request(Op.HEARTBEAT);
    expect(ping.op).not.toBe(Op.ERROR);
    // Before login the built-in guard still answers first.
    const anon = await MessagingClient.connect(gw);
    const reply = await anon.request(MsgOp.SEND, { to: 'bob3', clientMsgId: 'x', content: 1 });
    expect(reply.body.code).toBe(ErrorCode.NotLoggedIn);
  });

  it('lets a module observe each newly stored message once through stored$ (not resends)', async () => {
    const alice = await MessagingClient.loggedIn(gw, 'alice4');
    const ids = [nextClientMsgId(), nextClientMsgId(), nextClientMsgId()];
    const acks = [];
    for (const id of ids) acks.push(await alice.send('bob4', { id }, id));
    // Resends of the first and the last: answered, not stored again.
    expect(await alice.send('bob4', 'again', ids[0])).toEqual(acks[0]);
    expect(await alice.send('bob4', 'again', ids[2])).toEqual(acks[2]);

    expect(stored.map((e) => e.message)).toEqual(
      acks.map((ack, i) => ({
        msgId: ack.msgId,
        seq: i + 1,
        ts: ack.ts,
        from: 'alice4',
        to: 'bob4',
        clientMsgId: ids[i],
        content: JSON.stringify({ id: ids[i] }),
      })),
    );
  });
});
