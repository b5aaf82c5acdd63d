import { InboxMessage, LonglinkClientError } from 'longlink/client';
import { TestingGateway, createTestingGateway } from 'longlink/testing';
import { BlockListService } from '../src/chat/block-list.service';
import { ChatModule } from '../src/chat/chat.module';
import { ChatErrorCode, ChatOp } from '../src/chat/chat.ops';

/** What a request rejected with: the server's ERROR code, as LonglinkClientError carries it. */
async function refusal(request: Promise<unknown>): Promise<{ code: string; fromServer: boolean }> {
  try {
    await request;
  } catch (error) {
    if (error instanceof LonglinkClientError) {
      return { code: error.code, fromServer: error.fromServer };
    }
    throw error;
  }
  throw new Error('the request was not refused');
}

describe('typing indicators and read receipts', () => {
  let gw: TestingGateway;
  beforeAll(async () => {
    gw = await createTestingGateway({ imports: [ChatModule] });
  });
  afterAll(() => gw.close());

  it('pushes a typing notice to the recipient', async () => {
    const alice = await gw.client('alice');
    const bob = await gw.client('bob');
    const notice = bob.waitFor(ChatOp.TYPING_NOTICE);
    expect(await alice.request(ChatOp.TYPING, { to: 'bob' })).toEqual({ delivered: true });
    expect(await notice).toEqual({ from: 'alice' });
  });

  it('says when the recipient is not online', async () => {
    const alice = await gw.client('alice-2');
    expect(await alice.request(ChatOp.TYPING, { to: 'nobody' })).toEqual({ delivered: false });
  });

  it("pushes a read receipt to the messages' sender", async () => {
    const alice = await gw.client('alice-3');
    const bob = await gw.client('bob-3');
    const received = new Promise<InboxMessage>((resolve) => bob.on('message', resolve));
    await alice.send('bob-3', { text: 'hi' });
    const message = await received;
    expect(message.from).toBe('alice-3');

    const receipt = alice.waitFor(ChatOp.READ_NOTICE);
    const reply = await bob.request(ChatOp.READ, { to: 'alice-3', upToSeq: message.seq });
    expect(reply).toEqual({ delivered: true });
    expect(await receipt).toEqual({ from: 'bob-3', upToSeq: message.seq });
  });

  it('refuses notices to a user who blocked the sender, with chat-blocked', async () => {
    const dave = await gw.client('dave');
    const mallory = await gw.client('mallory');
    expect(await dave.request(ChatOp.BLOCK, { uid: 'mallory' })).toEqual({ blocked: ['mallory'] });

    const refused = await refusal(mallory.request(ChatOp.TYPING, { to: 'dave' }));
    expect(refused).toEqual({ code: ChatErrorCode.Blocked, fromServer: true });
    expect(await refusal(mallory.request(ChatOp.READ, { to: 'dave', upToSeq: 1 }))).toEqual({
      code: ChatErrorCode.Blocked,
      fromServer: true,
    });

    expect(await dave.request(ChatOp.UNBLOCK, { uid: 'mallory' })).toEqual({ blocked: [] });
    expect(await mallory.request(ChatOp.TYPING, { to: 'dave' })).toEqual({ delivered: true });
  });

  it('refuses a notice to oneself, with chat-self-target', async () => {
    const erin = await gw.client('erin');
    expect((await refusal(erin.request(ChatOp.TYPING, { to: 'erin' }))).code).toBe(
      ChatErrorCode.SelfTarget,
    );
  });

  it('validates the body after the guard: bad-request names the field', async () => {
    const frank = await gw.client('frank');
    // The guard sees the raw body (`to` is not a string) and lets the pipe answer.
    expect((await refusal(frank.request(ChatOp.TYPING, { to: 42 }))).code).toBe('bad-request');
    expect((await refusal(frank.request(ChatOp.READ, { to: 'alice', upToSeq: 0 }))).code).toBe(
      'bad-request',
    );
  });
});

/** A block list the test fills in itself, in place of the module's own (overrideProvider). */
class FixtureBlockList extends BlockListService {
  constructor() {
    super();
    this.block('grace', 'heidi');
  }
}

describe('with a provider overridden', () => {
  let gw: TestingGateway;
  beforeAll(async () => {
    gw = await createTestingGateway({
      imports: [ChatModule],
      configure: (builder) => builder.overrideProvider(BlockListService).useClass(FixtureBlockList),
    });
  });
  afterAll(() => gw.close());

  it('the guard uses the replacement', async () => {
    await gw.client('grace');
    const heidi = await gw.client('heidi');
    const ivan = await gw.client('ivan');
    expect((await refusal(heidi.request(ChatOp.TYPING, { to: 'grace' }))).code).toBe(
      ChatErrorCode.Blocked,
    );
    expect(await ivan.request(ChatOp.TYPING, { to: 'grace' })).toEqual({ delivered: true });
    expect(gw.module.get(BlockListService)).toBeInstanceOf(FixtureBlockList);
  });
});
