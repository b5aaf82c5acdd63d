import { SessionService } from '../src/session/session.service';
import { LonglinkConnection } from '../src/transport/connection';
import { KickReason } from '../src/transport/error-codes';
import { HEADER_BYTES, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { TestClient } from './support/test-client';
import { sleep, until } from './support/wait';
import { WsTestClient } from './support/ws-test-client';

/**
 * WebSocket connections get the limits of TCP ones (docs/PROTOCOL.md,
 * WebSocket): one frame per binary message or the close codes 1002/1003/1009,
 * the same frame-too-large ERROR below maxPayload, the same rate-limited
 * ERRORs and KICK, the same read budgets and write-buffer bound, and a
 * misbehaving connection never disturbs the others.
 */

const MAX_FRAME_BYTES = 16 * 1024;
const MAX_PRE_LOGIN_FRAME_BYTES = 1024;
const MAX_WRITE_BUFFER_BYTES = 64 * 1024;
const INTERVAL_MS = 1000;
const MAX_PACKETS = 20;
const KICK_PACKETS = 40;
const PUSH_OP = 1001;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const GIVE_UP_AFTER_BYTES = 256 * 1024 * 1024;

/** A frame of exactly `bytes` whose body is `{"pad":"…"}`. */
function padded(op: number, seq: number, bytes: number): Buffer {
  const empty = JSON.stringify({ pad: '' }).length;
  return encodeFrame(op, seq, JSON.stringify({ pad: 'p'.repeat(bytes - HEADER_BYTES - empty) }));
}

describe('WebSocket limits', () => {
  let h: HttpTestGateway;
  let sessions: SessionService;
  let wsUrl: string;
  const disconnected: LonglinkConnection[] = [];
  let opened: Array<WsTestClient | TestClient> = [];

  beforeAll(async () => {
    h = await startHttpGateway({
      server: {
        maxFrameBytes: MAX_FRAME_BYTES,
        maxPreLoginFrameBytes: MAX_PRE_LOGIN_FRAME_BYTES,
        maxWriteBufferBytes: MAX_WRITE_BUFFER_BYTES,
      },
      rateLimit: {
        intervalMs: INTERVAL_MS,
        maxPackets: MAX_PACKETS,
        kickPackets: KICK_PACKETS,
        maxPreLoginBytes: 4096,
      },
    });
    sessions = h.gateway.app.get(SessionService);
    h.gateway.server.on('disconnect', (conn) => disconnected.push(conn));
    wsUrl = `ws://127.0.0.1:${h.httpPort}/ws`;
  });
  afterAll(() => h.close());
  afterEach(async () => {
    for (const c of opened) c.close();
    opened = [];
    await until(() => h.gateway.server.connectionCount === 0, 'every connection gone');
  });

  async function ws(): Promise<WsTestClient> {
    const c = await WsTestClient.connect(wsUrl);
    opened.push(c);
    return c;
  }

  async function loggedInWs(uid: string): Promise<WsTestClient> {
    const c = await ws();
    expect((await c.login(await h.token(uid))).op).toBe(LOGIN_REPLY);
    return c;
  }

  async function loggedInTcp(uid: string): Promise<TestClient> {
    const c = await TestClient.connect(h.port);
    opened.push(c);
    expect((await c.login(await h.token(uid))).op).toBe(LOGIN_REPLY);
    return c;
  }

  /** Another WebSocket and a TCP user are served as before. */
  async function expectBystandersServed(ws: WsTestClient, tcp: TestClient): Promise<void> {
    expect((await ws.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect((await tcp.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(ws.isClosed || tcp.isClosed).toBe(false);
  }

  it('accepts a frame of exactly maxFrameBytes after login (maxPayload = maxFrameBytes)', async () => {
    const c = await loggedInWs('big-but-fine');
    c.sendRaw(padded(Op.HEARTBEAT, 77, MAX_FRAME_BYTES));
    expect((await c.waitFor((f) => f.seq === 77)).op).toBe(HEARTBEAT_REPLY);
  });

  it('closes a message over maxFrameBytes with 1009 (by ws, no PDU); others are unaffected', async () => {
    const w = await loggedInWs('bystander-ws');
    const t = await loggedInTcp('bystander-tcp');
    const c = await loggedInWs('oversize');
    const conn = sessions.find('oversize')!;
    c.sendRaw(padded(Op.HEARTBEAT, 9, MAX_FRAME_BYTES + 1));
    expect((await c.waitClosed()).code).toBe(1009);
    expect(c.frames.filter((f) => f.op !== LOGIN_REPLY)).toEqual([]);
    await until(() => disconnected.includes(conn), 'the server-side close');
    expect(sessions.isOnline('oversize')).toBe(false);
    await expectBystandersServed(w, t);
  });

  it('answers a frame over maxPreLoginFrameBytes (within maxPayload) with ERROR frame-too-large, then close 1000', async () => {
    const c = await ws();
    c.sendRaw(padded(Op.HEARTBEAT, 3, MAX_PRE_LOGIN_FRAME_BYTES + 1));
    const err = await c.waitForOp(Op.ERROR);
    expect(err.seq).toBe(0);
    expect(err.body.code).toBe('frame-too-large');
    expect(err.body.message).toMatch(/maxPreLoginFrameBytes/);
    expect(await c.waitClosed()).toEqual({ code: 1000, reason: '' });
  });

  it('answers a bad header inside one whole-frame message as TCP does (ERROR, then close 1000)', async () => {
    const c = await ws();
    const frame = encodeJsonFrame(Op.HEARTBEAT, 4);
    frame.writeUInt16BE(2, 6); // ver 2
    c.sendRaw(frame);
    expect((await c.waitForOp(Op.ERROR)).body.code).toBe('unsupported-version');
    expect((await c.waitClosed()).code).toBe(1000);
  });

  it('closes on a text message with 1003 text-message, no PDU', async () => {
    const c = await loggedInWs('texter');
    c.sendRaw('{"op":3}');
    expect(await c.waitClosed()).toEqual({ code: 1003, reason: 'text-message' });
    expect(c.frames.map((f) => f.op)).toEqual([LOGIN_REPLY]);
    expect(sessions.isOnline('texter')).toBe(false);
  });

  it.each([
    [
      'a frame split across messages (its first half)',
      encodeJsonFrame(Op.HEARTBEAT, 5).subarray(0, 8),
    ],
    [
      'a header announcing more than the message holds',
      padded(Op.HEARTBEAT, 5, 200).subarray(0, 100),
    ],
    [
      'two frames in one message',
      Buffer.concat([encodeJsonFrame(Op.HEARTBEAT, 5), encodeJsonFrame(Op.HEARTBEAT, 6)]),
    ],
    ['a message shorter than the header', Buffer.from([0, 0, 0, 4])],
    ['an empty message', Buffer.alloc(0)],
  ])('closes on %s with 1002 one-frame-per-message, no PDU', async (_what, message) => {
    const c = await loggedInWs('splitter');
    c.sendRaw(message);
    expect(await c.waitClosed()).toEqual({ code: 1002, reason: 'one-frame-per-message' });
    // Neither frame of two in one message was processed.
    expect(c.frames.map((f) => f.op)).toEqual([LOGIN_REPLY]);
    await until(() => !sessions.isOnline('splitter'), 'the session ended');
  });

  it('answers a flood with ERROR rate-limited past maxPackets and KICK rate-limited past kickPackets', async () => {
    const bystander = await loggedInWs('calm');
    const c = await loggedInWs('ws-flooder');
    // Let the window that counted the LOGIN run out: frame n of the next one has seq 1000 + n.
    await sleep(INTERVAL_MS + 50);
    for (let seq = 1001; seq <= 1000 + KICK_PACKETS + 5; seq++) {
      c.sendRaw(encodeJsonFrame(Op.HEARTBEAT, seq));
    }
    const kick = await c.waitForOp(Op.KICK);
    expect(kick.body).toEqual({ code: KickReason.RateLimited, message: expect.any(String) });
    expect((await c.waitClosed()).code).toBe(1000);
    const answers = c.frames.filter((f) => f.seq > 1000);
    expect(answers.slice(0, MAX_PACKETS).every((f) => f.op === HEARTBEAT_REPLY)).toBe(true);
    const refused = answers.slice(MAX_PACKETS);
    expect(refused).toHaveLength(KICK_PACKETS - MAX_PACKETS);
    for (const f of refused) {
      expect(f.op).toBe(Op.ERROR);
      expect(f.body).toEqual({
        code: 'rate-limited',
        message: expect.any(String),
        retryAfterMs: expect.any(Number),
      });
    }
    expect((await bystander.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
  });

  it('reads a connection past maxPreLoginBytes only as its budget refills (pause pushes back)', async () => {
    const c = await ws();
    const started = Date.now();
    // 12 KiB against 4 KiB a second, one message each: the last are read some two seconds later.
    for (let i = 0; i < 12; i++) {
      c.sendRaw(padded(Op.HEARTBEAT, 100 + i, 1024));
      await sleep(5);
    }
    await until(() => c.frames.length === 12, 'every heartbeat answered', 10_000);
    expect(c.frames.every((f) => f.op === HEARTBEAT_REPLY)).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(1200);
  });

  it('drops a client that never reads once maxWriteBufferBytes is queued (write-buffer-full, no close frame)', async () => {
    const w = await loggedInWs('reader-ws');
    const t = await loggedInTcp('reader-tcp');
    const victim = await loggedInWs('never-reads');
    const conn = sessions.find('never-reads')!;
    victim.ws.pause();
    const body = { blob: 'b'.repeat(8 * 1024) }; // 4 per turn: 32 KiB, half the limit
    let pushed = 0;
    let maxHeld = 0;
    while (sessions.push('never-reads', PUSH_OP, body)) {
      pushed += 8 * 1024;
      if (pushed > GIVE_UP_AFTER_BYTES) throw new Error('never disconnected');
      if (pushed % (32 * 1024) === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        maxHeld = Math.max(maxHeld, conn.socket.writableLength);
        // Pushes to the others go on meanwhile.
        sessions.push('reader-ws', PUSH_OP, { n: pushed });
        sessions.push('reader-tcp', PUSH_OP, { n: pushed });
      }
    }
    await until(() => disconnected.includes(conn), 'the server-side close');
    expect(conn.closeReason).toBe('write-buffer-full');
    expect(conn.socket.destroyed).toBe(true);
    expect(maxHeld).toBeLessThanOrEqual(MAX_WRITE_BUFFER_BYTES);
    // Dropped once the socket buffers had filled, not for the first pushes.
    expect(pushed).toBeGreaterThan(2 * MAX_WRITE_BUFFER_BYTES);
    victim.ws.resume();
    expect((await victim.waitClosed(5000)).code).toBe(1006);
    // The readers got every push addressed to them and are still served.
    const expected = Math.floor(pushed / (32 * 1024));
    await until(
      () =>
        w.frames.filter((f) => f.op === PUSH_OP).length >= expected &&
        t.frames.filter((f) => f.op === PUSH_OP).length >= expected,
      'pushes to the readers',
    );
    await expectBystandersServed(w, t);
  }, 60_000);
});
