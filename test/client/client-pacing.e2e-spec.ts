import { MsgOp } from '../../src/messaging/messaging.ops';
import { encodeFrame } from '../../src/transport/frame.codec';
import { Op } from '../../src/transport/ops';
import { TestGateway, startGateway } from '../support/test-gateway';
import { ClientPool, collectMessages, eventually } from './support/client-harness';
import { FrameTap } from './support/frame-tap';

/** The server's rate limit, announced at LOGIN, kept by the SDK's pacing (docs/CLIENT.md). */
describe('LonglinkClient pacing', () => {
  describe('with the default limits (200 frames per 1000 ms)', () => {
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);

    beforeAll(async () => {
      gw = await startGateway();
    });
    afterEach(() => pool.cleanup());
    afterAll(() => gw.close());

    it('reads the limits from the LOGIN reply', async () => {
      const client = await pool.connected('limits-reader');
      expect(client.session?.limits).toEqual({
        maxPackets: 200,
        intervalMs: 1000,
        kickPackets: 400,
        maxFrameBytes: 65536,
        maxBytes: expect.any(Number),
        pushWindow: 64,
      });
    });

    it('keeps a burst of 1,000 sends under the limit: zero rate-limited errors, all stored once, in order', async () => {
      const bob = pool.create('burst-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const tap = new FrameTap(gw.port);
      const alice = await pool.connected('burst-alice', { transport: tap.factory });
      const started = Date.now();
      const acks = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => alice.sendWithAck('burst-bob', { n: i })),
      );
      const elapsed = Date.now() - started;
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(tap.receivedOps(Op.ERROR)).toEqual([]);
      expect(tap.writtenOps(MsgOp.SEND)).toHaveLength(1000);
      // 1,000 frames at 180 per second (plus the LOGIN in the first window): over 5 s.
      expect(elapsed).toBeGreaterThan(4500);
      // No 1000 ms span of the client's writes holds more than 180 frames. The tap reads the
      // clock a moment after the pacer does (a GC pause can fall in between): allow 10 ms.
      const times = tap.written.map((f) => f.at);
      for (let i = 180; i < times.length; i++) {
        expect(times[i] - times[i - 180]).toBeGreaterThanOrEqual(990);
      }
      await eventually(() => seen.length === 1000, 'bob got all 1,000', 10_000);
      expect(seen.map((m) => (m.content as { n: number }).n)).toEqual(
        Array.from({ length: 1000 }, (_, i) => i),
      );
    }, 30_000);

    it('fails a SEND over maxFrameBytes at once, without sending it', async () => {
      const tap = new FrameTap(gw.port);
      const alice = await pool.connected('big-alice', { transport: tap.factory });
      const failed: string[] = [];
      alice.on('outbox', (e) => void (e.state === 'failed' && failed.push(e.error.code)));
      await expect(alice.send('bob', { text: 'x'.repeat(70_000) })).rejects.toMatchObject({
        code: 'message-too-large',
        message: expect.stringMatching(/the server accepts at most 65536 bytes/),
      });
      expect(failed).toEqual(['message-too-large']);
      expect(tap.writtenOps(MsgOp.SEND)).toEqual([]);
      expect(alice.state).toBe('ready');
      await expect(alice.send('bob', 'small')).resolves.toEqual(expect.any(String));
    });
  });

  describe('when the server refuses a frame anyway', () => {
    const MAX_PACKETS = 5;
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);

    beforeAll(async () => {
      gw = await startGateway({
        rateLimit: { intervalMs: 1000, maxPackets: MAX_PACKETS, kickPackets: 100 },
      });
    });
    afterEach(() => pool.cleanup());
    afterAll(() => gw.close());

    it('resends a rate-limited SEND after retryAfterMs with the same clientMsgId; it is stored once', async () => {
      const bob = pool.create('refused-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const tap = new FrameTap(gw.port);
      const alice = await pool.connected('refused-alice', { transport: tap.factory });
      // Raw frames the SDK does not know of use up the connection's window, as another writer
      // on the same socket (or a skewed clock) would: the SDK's own pace cannot prevent this.
      const raw = Array.from({ length: MAX_PACKETS }, (_, i) =>
        encodeFrame(Op.HEARTBEAT, 60_000 + i),
      );
      alice.on('error', () => undefined); // the refusal of the 6th raw frame, if it was refused
      tap.writeRaw(Buffer.concat(raw));
      const ack = await alice.sendWithAck('refused-bob', 'once', { clientMsgId: 'c-refused-1' });

      const sends = tap.writtenOps(MsgOp.SEND);
      expect(sends).toHaveLength(2);
      expect(sends[1].body).toEqual(sends[0].body);
      expect(sends[0].body).toMatchObject({ clientMsgId: 'c-refused-1' });
      const refusal = tap
        .receivedOps(Op.ERROR)
        .find((f) => f.seq === sends[0].seq && f.body.code === 'rate-limited');
      expect(refusal?.body.retryAfterMs).toEqual(expect.any(Number));
      // Not before the server's window ended.
      expect(sends[1].at - refusal!.at).toBeGreaterThanOrEqual(refusal!.body.retryAfterMs);

      await eventually(() => seen.length === 1, 'bob got it');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([expect.objectContaining({ msgId: ack.msgId, content: 'once' })]);
    });
  });

  describe('under a per-user token bucket (limits.rules)', () => {
    // The SDK mirrors the announced buckets; a refusal (a bucket shared with another
    // connection) falls back to retryAfterMs and the rule's pace (src/client/protocol-link.ts).
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);

    beforeAll(async () => {
      gw = await startGateway({
        limits: {
          rules: [
            { name: 'send-per-user', per: 'user', ops: ['SEND'], ratePerSecond: 20, burst: 10 },
          ],
        },
      } as never);
    });
    afterEach(() => pool.cleanup());
    afterAll(() => gw.close());

    it('keeps to the rules the LOGIN reply announces: 60 sends, none refused, stored once, in order', async () => {
      const bob = pool.create('bucket-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const tap = new FrameTap(gw.port);
      const alice = await pool.connected('bucket-alice', { transport: tap.factory });
      expect(alice.session?.limits?.rules).toEqual([
        { name: 'send-per-user', ops: [MsgOp.SEND], ratePerSecond: 20, burst: 10 },
      ]);
      const started = Date.now();
      const acks = await Promise.all(
        Array.from({ length: 60 }, (_, i) => alice.sendWithAck('bucket-bob', { n: i })),
      );
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(tap.receivedOps(Op.ERROR)).toEqual([]);
      // 9 at once (90% of the burst), then 18 per second (90% of the rate).
      expect(Date.now() - started).toBeGreaterThan(2500);
      await eventually(() => seen.length === 60, 'bob got all 60', 10_000);
      expect(seen.map((m) => (m.content as { n: number }).n)).toEqual(
        Array.from({ length: 60 }, (_, i) => i),
      );
    }, 20_000);
  });
});
