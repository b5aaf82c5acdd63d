import { MsgOp } from '../src/messaging/messaging.ops';
import { HEADER_BYTES, encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { MessagingClient } from './support/messaging-client';
import { TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

/** A frame of exactly `bytes` whose body is `{"pad":"…"}`. */
function padded(op: number, seq: number, bytes: number): Buffer {
  const empty = JSON.stringify({ pad: '' }).length;
  return encodeFrame(op, seq, JSON.stringify({ pad: 'p'.repeat(bytes - HEADER_BYTES - empty) }));
}

/**
 * Writes the frames apart, so each arrives in a read of its own: a read is
 * counted once it is in (its size is known only then), so a budget slows the
 * reads after the one that spent it.
 */
async function writeApart(c: TestClient, frames: Buffer[]): Promise<void> {
  for (const f of frames) {
    c.sendRaw(f);
    await sleep(5);
  }
}

function errorsOf(c: TestClient): string[] {
  return c.frames.filter((f) => f.op === Op.ERROR).map((f) => f.body.code as string);
}

/**
 * Issue 16, item 4: what a client that has not logged in, or one logged-in
 * client within its limits, can make the gateway spend. Nothing is decoded for
 * an op that needs login on a connection without one; frames before login are
 * small; bytes read are budgeted per connection and per IP; bodies are bounded
 * in keys and elements; a repeated SYNC cannot multiply pushes.
 */
describe('cost budgets', () => {
  describe('before login', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway({
        server: { maxPreLoginFrameBytes: 1024, maxJsonItems: 16 },
        rateLimit: { maxPreLoginBytes: 4096, maxPreLoginIpBytes: 8192 },
      });
    });
    afterAll(() => gw.close());

    it('answers a non-public op not-logged-in without decoding its body', async () => {
      const c = await gw.client();
      // Not JSON at all: had it been decoded, the answer would be bad-json.
      c.sendRaw(encodeFrame(MsgOp.SEND, 7, '{"to": nope'));
      c.sendRaw(encodeFrame(4242, 8, '\xff not even utf-8'));
      const answers = [await c.waitFor((f) => f.seq === 7), await c.waitFor((f) => f.seq === 8)];
      expect(answers.map((f) => [f.op, f.body.code])).toEqual([
        [Op.ERROR, 'not-logged-in'],
        [Op.ERROR, 'not-logged-in'],
      ]);
      // A public op is still decoded: its bad body is bad-json, and the connection stays.
      c.sendRaw(encodeFrame(Op.HEARTBEAT, 9, '{"a": nope'));
      expect((await c.waitFor((f) => f.seq === 9)).body.code).toBe('bad-json');
      expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    });

    it('closes a connection whose frame exceeds maxPreLoginFrameBytes, naming the limit', async () => {
      const c = await gw.client();
      c.sendRaw(padded(Op.LOGIN, 3, 1025));
      const error = await c.waitForOp(Op.ERROR);
      expect([error.seq, error.body.code]).toEqual([0, 'frame-too-large']);
      expect(error.body.message).toMatch(/maxPreLoginFrameBytes 1024/);
      await c.waitClosed();
    });

    it('lifts the frame limit to maxFrameBytes once logged in', async () => {
      const c = await gw.loggedIn('big-framer');
      c.sendRaw(padded(Op.HEARTBEAT, 4, 4000));
      expect((await c.waitFor((f) => f.seq === 4)).op).toBe(HEARTBEAT_REPLY);
    });

    it('refuses a body with more keys and array elements than maxJsonItems, keeping the connection', async () => {
      const c = await gw.client();
      c.sendRaw(encodeFrame(Op.HEARTBEAT, 5, JSON.stringify({ list: Array(20).fill(1) })));
      const answer = await c.waitFor((f) => f.seq === 5);
      expect(answer.body.code).toBe('bad-json');
      expect(answer.body.message).toMatch(/more than 16 keys and array elements/);
      expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    });

    it('reads a connection past maxPreLoginBytes only as its budget refills, answering everything', async () => {
      const c = await TestClient.connect(gw.port, '127.0.0.1', '127.0.16.1');
      const started = Date.now();
      // 12 KiB at once against 4 KiB a second: the last frames are read some two seconds later.
      await writeApart(
        c,
        Array.from({ length: 12 }, (_, i) => padded(Op.HEARTBEAT, 100 + i, 1024)),
      );
      await until(() => c.frames.length === 12, 'every heartbeat answered', 10_000);
      const elapsed = Date.now() - started;
      expect(c.frames.every((f) => f.op === HEARTBEAT_REPLY)).toBe(true);
      expect(elapsed).toBeGreaterThan(1200);
      c.close();
    });

    it("shares the IP's pre-login budget, without slowing other IPs or the IP's logged-in users", async () => {
      const ip = '127.0.16.2';
      const floods = await Promise.all(
        [1, 2, 3, 4].map(() => TestClient.connect(gw.port, '127.0.0.1', ip)),
      );
      const user = await TestClient.connect(gw.port, '127.0.0.1', ip);
      expect((await user.login(await gw.token('behind-the-nat'))).op).toBe(
        (Op.LOGIN | REPLY_FLAG) >>> 0,
      );
      const other = await TestClient.connect(gw.port, '127.0.0.1', '127.0.16.3');
      // 4 × 3 KiB = 12 KiB against 8 KiB a second for the IP (each connection is within its 4 KiB).
      await Promise.all(
        floods.map((f) =>
          writeApart(
            f,
            [1, 2, 3].map((i) => padded(Op.HEARTBEAT, i, 1024)),
          ),
        ),
      );
      const t0 = Date.now();
      expect((await user.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
      expect((await other.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
      expect(Date.now() - t0).toBeLessThan(500);
      const answered = () => floods.reduce((n, f) => n + f.frames.length, 0);
      expect(answered()).toBeLessThan(12);
      await until(() => answered() === 12, 'the flood answered in the end', 10_000);
      expect(floods.flatMap(errorsOf)).toEqual([]);
      for (const c of [...floods, user, other]) c.close();
    });
  });

  describe('after login', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway({
        rateLimit: { maxBytes: 8192 },
        messaging: { ackTimeoutMs: 1000, pushWindow: 8 },
      });
    });
    afterAll(() => gw.close());

    it('paces a logged-in connection past maxBytes instead of refusing it', async () => {
      const c = await gw.loggedIn('fast-sender');
      const started = Date.now();
      // 24 KiB against 8 KiB a second.
      await writeApart(
        c,
        Array.from({ length: 24 }, (_, i) => padded(Op.HEARTBEAT, 200 + i, 1024)),
      );
      await until(() => c.frames.length === 25, 'every heartbeat answered', 10_000);
      expect(Date.now() - started).toBeGreaterThan(1500);
      expect(errorsOf(c)).toEqual([]);
    });

    it('re-pushes on a rewinding SYNC at most once per ackTimeoutMs, however often it comes', async () => {
      const sender = await MessagingClient.loggedIn(gw, 'syncs-sender');
      for (let i = 0; i < 8; i++) await sender.send('syncs-victim', { n: i });
      const victim = await MessagingClient.loggedIn(gw, 'syncs-victim', { autoAck: false });
      await victim.waitUntil(() => victim.pushes.length === 8, 'the backlog window');
      // The first rewind re-pushes the window at once...
      await victim.sync(0);
      await victim.waitUntil(() => victim.pushes.length === 16, 'the first re-push');
      // ...twenty more within the ack timeout re-push nothing at once, and the window once after it.
      for (let i = 0; i < 20; i++) expect(await victim.sync(0)).toBe(8);
      await sleep(300);
      expect(victim.pushes.length).toBe(16);
      await victim.waitUntil(() => victim.pushes.length >= 24, 'the deferred re-push', 3000);
      await sleep(300);
      // Retransmits of the window may add 8 at the ack timeout; twenty SYNCs never add 160.
      expect(victim.pushes.length).toBeLessThanOrEqual(32);
      expect(victim.pushSeqs().slice(16, 24)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });
});
