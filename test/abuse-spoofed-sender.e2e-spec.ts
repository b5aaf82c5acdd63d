import { SignJWT } from 'jose';
import { MsgOp } from '../src/messaging/messaging.ops';
import { MessagingService } from '../src/messaging/messaging.service';
import { SessionService } from '../src/session/session.service';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { MessagingClient, nextClientMsgId } from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';

/**
 * Abuse: impersonation. A SEND whose body names another sender is delivered as
 * coming from the session's user; a forged, tampered or expired token does not
 * log in; frames over maxFrameBytes are refused from their header. The token
 * cases are covered in depth by test/login.e2e-spec.ts and the frame limits by
 * test/bad-input.e2e-spec.ts; here each is attacked once more, as an attacker
 * would, while a bystander is served.
 */

const MAX_FRAME_BYTES = 8192;
const P99_BOUND_MS = 200;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('abuse: spoofed sender, forged tokens, oversized frames', () => {
  let gw: TestGateway;
  let probe: HeartbeatProbe;
  let baseline: LatencyStats;
  const storedFrom: string[] = [];

  beforeAll(async () => {
    gw = await startGateway({ server: { maxFrameBytes: MAX_FRAME_BYTES } });
    gw.app.get(MessagingService).stored$.subscribe(({ message }) => storedFrom.push(message.from));
    probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('bystander') });
    baseline = await probe.measure(100, 10);
    probe.startBackground(10);
  });

  afterAll(async () => {
    probe.close();
    await gw.close();
  });

  describe('a SEND that names another sender', () => {
    it('is delivered as coming from the session user: from, uid and sender in the body are ignored', async () => {
      const bob = await MessagingClient.loggedIn(gw, 'bob');
      const mallory = await MessagingClient.loggedIn(gw, 'mallory');
      const clientMsgId = nextClientMsgId();
      const reply = await mallory.request(MsgOp.SEND, {
        to: 'bob',
        clientMsgId,
        content: { text: 'wire the money' },
        from: 'ceo',
        uid: 'ceo',
        sender: 'ceo',
      });
      expect(reply.op).toBe((MsgOp.SEND | REPLY_FLAG) >>> 0);
      expect(reply.body).toEqual({
        clientMsgId,
        msgId: expect.any(String),
        seq: expect.any(Number),
        ts: expect.any(Number),
      });
      await bob.waitForApp(1);
      expect(bob.appSeen[0]).toMatchObject({
        from: 'mallory',
        content: { text: 'wire the money' },
      });
      expect(storedFrom.at(-1)).toBe('mallory');
      bob.close();
      mallory.close();
    });

    it('keeps a from inside the content as content, and the envelope from as the session user', async () => {
      const bob = await MessagingClient.loggedIn(gw, 'bob-2');
      const mallory = await MessagingClient.loggedIn(gw, 'mallory-2');
      await mallory.send('bob-2', { from: 'ceo', text: 'it is me, the CEO' });
      await bob.waitForApp(1);
      expect(bob.appSeen[0].from).toBe('mallory-2');
      expect(bob.appSeen[0].content).toEqual({ from: 'ceo', text: 'it is me, the CEO' });
      bob.close();
      mallory.close();
    });

    it("cannot hijack another user's message by reusing its clientMsgId with a spoofed from", async () => {
      const carol = await MessagingClient.loggedIn(gw, 'carol');
      const alice = await MessagingClient.loggedIn(gw, 'alice');
      const mallory = await MessagingClient.loggedIn(gw, 'mallory-3');
      const aliceAck = await alice.send('carol', 'the real one', 'shared-id');
      const reply = await mallory.request(MsgOp.SEND, {
        to: 'carol',
        clientMsgId: 'shared-id',
        content: 'the fake one',
        from: 'alice',
      });
      // Deduplication is per (session user, clientMsgId): mallory's copy is its own new message.
      expect(reply.body.msgId).not.toBe(aliceAck.msgId);
      await carol.waitForApp(2);
      expect(carol.appSeen.map((m) => [m.from, m.content])).toEqual([
        ['alice', 'the real one'],
        ['mallory-3', 'the fake one'],
      ]);
      for (const c of [carol, alice, mallory]) c.close();
    });
  });

  describe('LOGIN with a token the attacker made up (see also test/login.e2e-spec.ts)', () => {
    const otherSecret = new TextEncoder().encode('not-the-gateway-secret-but-just-as-long');
    const now = () => Math.floor(Date.now() / 1000);

    async function attempts(): Promise<[string, string][]> {
      const secret = new TextEncoder().encode(gw.config.auth.jwtSecret);
      const valid = await gw.token('mallory-4');
      const [header, , signature] = valid.split('.');
      return [
        [
          'signed with another secret',
          await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject('alice')
            .setExpirationTime('1h')
            .sign(otherSecret),
        ],
        [
          'expired',
          await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject('alice')
            .setExpirationTime(now() - 60)
            .sign(secret),
        ],
        [
          "a valid token's payload changed to another sub",
          `${header}.${b64url({ sub: 'alice', exp: now() + 3600 })}.${signature}`,
        ],
        [
          'unsigned (alg none)',
          `${b64url({ alg: 'none' })}.${b64url({ sub: 'alice', exp: now() + 3600 })}.`,
        ],
        ['garbage', 'x'.repeat(500)],
      ];
    }

    it('refuses each one, and the connection stays logged out: SEND is not-logged-in and nothing is stored', async () => {
      const sessions = gw.app.get(SessionService);
      const storedBefore = storedFrom.length;
      const seen: [string, string][] = [];
      for (const [what, token] of await attempts()) {
        const c = await MessagingClient.connect(gw);
        const reply = await c.login(token);
        seen.push([what, reply.body?.code]);
        const send = await c.request(MsgOp.SEND, { to: 'bob', clientMsgId: 'x', content: 'hi' });
        expect(send.body).toEqual({ code: 'not-logged-in', message: expect.any(String) });
        c.close();
      }
      expect(seen).toEqual([
        ['signed with another secret', 'invalid-token'],
        ['expired', 'token-expired'],
        ["a valid token's payload changed to another sub", 'invalid-token'],
        ['unsigned (alg none)', 'invalid-token'],
        ['garbage', 'invalid-token'],
      ]);
      expect(sessions.isOnline('alice')).toBe(false);
      expect(storedFrom.length).toBe(storedBefore);
    });
  });

  describe(`oversized frames (maxFrameBytes ${MAX_FRAME_BYTES}; see also test/bad-input.e2e-spec.ts)`, () => {
    it('closes a connection that announces a larger frame, from the header alone, without waiting for the body', async () => {
      for (const plen of [MAX_FRAME_BYTES + 1, 16 * 1024 * 1024, 0xffffffff]) {
        const c = await MessagingClient.loggedIn(gw, `big-${plen}`);
        const header = Buffer.alloc(16);
        header.writeUInt32BE(plen >>> 0, 0);
        header.writeUInt16BE(16, 4);
        header.writeUInt16BE(1, 6);
        header.writeUInt32BE(MsgOp.SEND, 8);
        header.writeUInt32BE(9, 12);
        c.conn.sendRaw(header); // no body follows
        const error = await c.conn.waitForOp(Op.ERROR);
        expect([error.seq, error.body.code]).toEqual([0, 'frame-too-large']);
        await c.conn.waitClosed();
      }
    });

    it('accepts a SEND of exactly maxFrameBytes and closes on one byte more', async () => {
      const c = await MessagingClient.loggedIn(gw, 'edge');
      /** A SEND frame of exactly `size` bytes (content padded). */
      const sendOf = (size: number, seq: number) => {
        const body = (pad: number) =>
          JSON.stringify({ to: 'edge-rcpt', clientMsgId: `e${seq}`, content: 'p'.repeat(pad) });
        return encodeFrame(MsgOp.SEND, seq, body(size - 16 - body(0).length));
      };
      const fits = sendOf(MAX_FRAME_BYTES, 51);
      expect(fits.length).toBe(MAX_FRAME_BYTES);
      c.conn.sendRaw(fits);
      const ack = await c.conn.waitFor((f) => f.seq === 51);
      expect(ack.op).toBe((MsgOp.SEND | REPLY_FLAG) >>> 0);
      const over = sendOf(MAX_FRAME_BYTES + 1, 52);
      expect(over.length).toBe(MAX_FRAME_BYTES + 1);
      c.conn.sendRaw(over);
      const error = await c.conn.waitForOp(Op.ERROR);
      expect([error.seq, error.body.code]).toEqual([0, 'frame-too-large']);
      await c.conn.waitClosed();
      expect(c.conn.frames.some((f) => f.seq === 52)).toBe(false);
    });
  });

  it('served the logged-in bystander throughout (runs last)', async () => {
    const during = await probe.stopBackground();
    console.log(
      `[spoofing] bystander heartbeat RTT: baseline ${formatStats(baseline)}; during the spec ${formatStats(during)}`,
    );
    expect(probe.missed).toBe(0);
    expect(probe.problems).toEqual([]);
    expect(during.p99).toBeLessThan(P99_BOUND_MS);
    expect((await probe.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });
});
