import { Controller, Module } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { RateLimit } from '../src/limits/rate-limit.decorator';
import { MsgOp } from '../src/messaging/messaging.ops';
import { createTestingGateway } from '../src/testing';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ExampleModule } from './example/example.module';
import { ExampleOp } from './example/example.ops';
import { ReceivedFrame, TestClient, encodeJsonFrame } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const PING = 1100;

@Controller()
class LimitedController {
  @RateLimit({ per: 'connection', ratePerSecond: 1, burst: 2 })
  @MessagePattern('limited.ping', { op: PING })
  ping() {
    return { pong: true };
  }
}

@Module({ controllers: [LimitedController] })
class LimitedModule {}

const SEND_RULE = { name: 'send-per-user', per: 'user', ops: ['SEND'], ratePerSecond: 5, burst: 5 };
const ECHO_RULE = {
  name: 'echo-per-ip',
  per: 'ip',
  ops: ['example.echo'],
  ratePerSecond: 2,
  burst: 3,
  kickAfterRefused: null,
};

const reply = (op: number) => (op | REPLY_FLAG) >>> 0;
let nextId = 1;
const sendBody = (to: string) => ({ to, clientMsgId: `m${nextId++}`, content: 'hi' });

/** Frames in one write, so they are judged together; resolves with each one's answer. */
async function pipeline(c: TestClient, op: number, bodies: unknown[]): Promise<ReceivedFrame[]> {
  const base = 50_000 + nextId * 100;
  nextId++;
  c.sendRaw(Buffer.concat(bodies.map((b, i) => encodeJsonFrame(op, base + i, b))));
  return Promise.all(bodies.map((_, i) => c.waitFor((f) => f.seq === base + i)));
}

describe('rate rules (limits.rules and @RateLimit)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      {
        messaging: { store: 'memory' },
        limits: { rules: [SEND_RULE, ECHO_RULE] },
      } as never,
      [ExampleModule, LimitedModule],
    );
  });
  afterAll(() => gw.close());

  it('refuses SENDs past the per-user burst with the rule, and retryAfterMs; other ops go on', async () => {
    const c = await gw.loggedIn('alice');
    const answers = await pipeline(
      c,
      MsgOp.SEND,
      Array.from({ length: 7 }, () => sendBody('bob')),
    );
    expect(answers.slice(0, 5).map((a) => a.op)).toEqual(Array(5).fill(reply(MsgOp.SEND)));
    for (const a of answers.slice(5)) {
      expect(a.op).toBe(Op.ERROR);
      expect(a.body).toMatchObject({ code: 'rate-limited', limit: 'send-per-user' });
      // 5 per second: a token every 200 ms.
      expect(a.body.retryAfterMs).toBeGreaterThan(150);
      expect(a.body.retryAfterMs).toBeLessThanOrEqual(200);
    }
    // Other ops are not counted by the SEND rule.
    const beats = await pipeline(c, Op.HEARTBEAT, Array(10).fill({}));
    expect(beats.every((b) => b.op === reply(Op.HEARTBEAT))).toBe(true);
    expect((await c.request(MsgOp.SYNC, { lastSeq: 0 })).op).toBe(reply(MsgOp.SYNC));
    expect(c.isClosed).toBe(false);
  });

  it('admits again once retryAfterMs has passed, not before', async () => {
    const c = await gw.loggedIn('carol');
    await pipeline(
      c,
      MsgOp.SEND,
      Array.from({ length: 5 }, () => sendBody('bob')),
    );
    const refused = await c.request(MsgOp.SEND, sendBody('bob'));
    expect(refused.body.code).toBe('rate-limited');
    const { retryAfterMs } = refused.body as { retryAfterMs: number };
    await sleep(retryAfterMs - 80);
    expect((await c.request(MsgOp.SEND, sendBody('bob'))).body.code).toBe('rate-limited');
    await sleep(120);
    expect((await c.request(MsgOp.SEND, sendBody('bob'))).op).toBe(reply(MsgOp.SEND));
  });

  it("shares the per-user budget with the user's next connection (no fresh budget by reconnecting)", async () => {
    const first = await gw.loggedIn('dave');
    await pipeline(
      first,
      MsgOp.SEND,
      Array.from({ length: 5 }, () => sendBody('bob')),
    );
    const second = await gw.loggedIn('dave');
    await first.waitClosed();
    expect((await second.request(MsgOp.SEND, sendBody('bob'))).body).toMatchObject({
      code: 'rate-limited',
      limit: 'send-per-user',
    });
    // Another user is not touched by dave's spending.
    const erin = await gw.loggedIn('erin');
    expect((await erin.request(MsgOp.SEND, sendBody('bob'))).op).toBe(reply(MsgOp.SEND));
  });

  it('kicks a user far over the limit (refusals past kickAfterRefused, default: burst)', async () => {
    const c = await gw.loggedIn('frank');
    c.sendRaw(
      Buffer.concat(
        Array.from({ length: 20 }, (_, i) =>
          encodeJsonFrame(MsgOp.SEND, 70_000 + i, sendBody('bob')),
        ),
      ),
    );
    const kick = await c.waitForOp(Op.KICK);
    expect(kick.body).toMatchObject({
      code: 'rate-limited',
      message: 'limit send-per-user far exceeded',
    });
    await c.waitClosed();
  });

  it('counts per IP across users, and leaves other addresses alone', async () => {
    const [a, b] = [await gw.client(), await gw.client()];
    for (const [c, uid] of [
      [a, 'ip-a'],
      [b, 'ip-b'],
    ] as const) {
      expect((await c.login(await gw.token(uid))).op).toBe(reply(Op.LOGIN));
    }
    const first = await pipeline(a, ExampleOp.ECHO, [{ n: 1 }, { n: 2 }]);
    const second = await pipeline(b, ExampleOp.ECHO, [{ n: 3 }, { n: 4 }]);
    expect([...first, ...second].map((f) => f.op === reply(ExampleOp.ECHO))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(second[1].body).toMatchObject({ code: 'rate-limited', limit: 'echo-per-ip' });
    // kickAfterRefused: null never kicks, however far over.
    const many = await pipeline(a, ExampleOp.ECHO, Array(30).fill({}));
    expect(many.every((f) => f.body.code === 'rate-limited')).toBe(true);
    expect(a.isClosed).toBe(false);
    const other = await TestClient.connect(gw.port, '127.0.0.1', '127.0.0.7');
    expect((await other.login(await gw.token('ip-c'))).op).toBe(reply(Op.LOGIN));
    expect((await other.request(ExampleOp.ECHO, {})).op).toBe(reply(ExampleOp.ECHO));
    other.close();
  });

  it('applies a @RateLimit declared on a handler, per connection', async () => {
    const c = await gw.loggedIn('grace');
    const answers = await pipeline(c, PING, [{}, {}, {}]);
    expect(answers.map((a) => a.op)).toEqual([reply(PING), reply(PING), Op.ERROR]);
    expect(answers[2].body).toMatchObject({
      code: 'rate-limited',
      limit: 'limited.ping.connection',
    });
    const fresh = await gw.loggedIn('heidi');
    expect((await fresh.request(PING, {})).op).toBe(reply(PING));
  });

  it('does not decode a refused body (a malformed one gets rate-limited, not bad-json)', async () => {
    const c = await gw.loggedIn('ivan');
    await pipeline(
      c,
      MsgOp.SEND,
      Array.from({ length: 5 }, () => sendBody('bob')),
    );
    const frame = Buffer.from(encodeJsonFrame(MsgOp.SEND, 80_001, {}));
    const bad = Buffer.concat([frame.subarray(0, frame.length - 2), Buffer.from('{{')]);
    bad.writeUInt32BE(bad.length, 0);
    c.sendRaw(bad);
    expect((await c.waitFor((f) => f.seq === 80_001)).body.code).toBe('rate-limited');
  });
});

describe('rate rules: bad config stops startup naming the key', () => {
  it('an op name nothing answers to', async () => {
    await expect(
      createTestingGateway({
        options: {
          messaging: { store: 'memory' },
          limits: { rules: [{ ...SEND_RULE, ops: ['SNED'] }] },
        } as never,
      }),
    ).rejects.toThrow(
      /limits\.rules\[0\]\.ops: "SNED" is neither an op name nor a handler's pattern/,
    );
  });

  it('a rule without a rate', async () => {
    await expect(
      createTestingGateway({
        options: { limits: { rules: [{ name: 'x', per: 'user', burst: 1 }] } } as never,
      }),
    ).rejects.toThrow(/limits\.rules\.0\.ratePerSecond|limits\.rules\[0\]\.ratePerSecond/);
  });
});

describe('rate rules: a frame refused by one rule spends nothing of the others', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      messaging: { store: 'memory' },
      limits: {
        rules: [
          { name: 'all-per-conn', per: 'connection', ops: ['*'], ratePerSecond: 0.01, burst: 4 },
          { name: 'send-per-user', per: 'user', ops: ['SEND'], ratePerSecond: 0.01, burst: 1 },
        ],
      },
    } as never);
  });
  afterAll(() => gw.close());

  it('gives back the tokens the earlier rules took', async () => {
    // The LOGIN took one of all-per-conn's 4 tokens; the first SEND takes a second.
    const c = await gw.loggedIn('refund');
    expect((await c.request(MsgOp.SEND, sendBody('x'))).op).toBe(reply(MsgOp.SEND));
    const refused = await c.request(MsgOp.SEND, sendBody('x'));
    expect(refused.body).toMatchObject({ code: 'rate-limited', limit: 'send-per-user' });
    // Two tokens are left for all-per-conn: the refused SEND did not spend one.
    const beats = await pipeline(c, Op.HEARTBEAT, [{}, {}, {}]);
    expect(beats.map((b) => b.op)).toEqual([reply(Op.HEARTBEAT), reply(Op.HEARTBEAT), Op.ERROR]);
    expect(beats[2].body).toMatchObject({ limit: 'all-per-conn' });
  });
});
