import { MsgOp } from '../src/messaging/messaging.ops';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestGateway, startGateway } from './support/test-gateway';

describe('messaging: online delivery', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw.close());

  it('acks the sender after storing, pushes to the online recipient, and takes its ack', async () => {
    const alice = await gw.loggedIn('alice');
    const bob = await gw.loggedIn('bob');
    const ack = await alice.request(MsgOp.SEND, {
      to: 'bob',
      clientMsgId: 'c1',
      content: { text: 'hi' },
    });
    expect(ack.op).toBe((MsgOp.SEND | REPLY_FLAG) >>> 0);
    expect(ack.body).toEqual({
      clientMsgId: 'c1',
      msgId: expect.any(String),
      seq: 1,
      ts: expect.any(Number),
    });
    const msg = await bob.waitForOp(MsgOp.MSG);
    expect(msg.body).toEqual({
      msgId: ack.body.msgId,
      seq: 1,
      from: 'alice',
      content: { text: 'hi' },
      ts: ack.body.ts,
    });
    bob.send(MsgOp.PUSH_ACK, { upTo: 1 });
    const again = await alice.request(MsgOp.SEND, { to: 'bob', clientMsgId: 'c1', content: 'dup' });
    expect(again.body.msgId).toBe(ack.body.msgId);
    const sync = await bob.request(MsgOp.SYNC, { lastSeq: 1 });
    expect(sync.body).toEqual({ lastSeq: 1 });
    expect(bob.frames.filter((f) => f.op === MsgOp.MSG)).toHaveLength(1);
    expect((await bob.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });
});
