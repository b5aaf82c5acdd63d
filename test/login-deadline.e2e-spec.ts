import { KickReason } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const HEARTBEAT = { intervalMs: 100, timeoutMs: 300, sweepIntervalMs: 20 };
const LOGIN_TIMEOUT_MS = 200;
/** How late after the deadline the server may close (sweep granularity + load). */
const MARGIN_MS = 250;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

describe('login deadline', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      heartbeat: HEARTBEAT,
      server: { loginTimeoutMs: LOGIN_TIMEOUT_MS },
    });
  });
  afterAll(() => gw.close());

  /** Connects; returns the client and a time no later than the server accepted it. */
  async function connect(): Promise<{ c: TestClient; connectingAt: number }> {
    const connectingAt = Date.now();
    const c = await gw.client();
    return { c, connectingAt };
  }

  async function expectLoginTimeoutKick(c: TestClient, connectingAt: number) {
    const kick = await c.waitForOp(Op.KICK, LOGIN_TIMEOUT_MS + MARGIN_MS);
    expect(kick.seq).toBe(0);
    expect(kick.body).toEqual({ code: KickReason.LoginTimeout, message: expect.any(String) });
    await c.waitClosed(MARGIN_MS);
    const elapsed = Date.now() - connectingAt;
    expect(elapsed).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 2);
    expect(elapsed).toBeLessThanOrEqual(LOGIN_TIMEOUT_MS + MARGIN_MS);
  }

  it('closes a connection that never logs in with KICK login-timeout after loginTimeoutMs', async () => {
    const { c, connectingAt } = await connect();
    await sleep(LOGIN_TIMEOUT_MS * 0.6);
    expect(c.isClosed).toBe(false);
    await expectLoginTimeoutKick(c, connectingAt);
  });

  it('does not let heartbeats before login extend the login deadline', async () => {
    const { c, connectingAt } = await connect();
    const timer = setInterval(() => {
      if (!c.isClosed) c.send(Op.HEARTBEAT);
    }, 40);
    try {
      await expectLoginTimeoutKick(c, connectingAt);
    } finally {
      clearInterval(timer);
    }
    // The heartbeats were answered (heartbeat is public), yet did not count as login.
    expect(c.frames.filter((f) => f.op === HEARTBEAT_REPLY).length).toBeGreaterThanOrEqual(2);
  });

  it('does not let other frames before login extend the login deadline', async () => {
    const { c, connectingAt } = await connect();
    const timer = setInterval(() => {
      if (!c.isClosed) c.send(4242, { hello: 'anyone?' });
    }, 40);
    try {
      await expectLoginTimeoutKick(c, connectingAt);
    } finally {
      clearInterval(timer);
    }
  });

  it('keeps a connection that logs in before the deadline open past it', async () => {
    const { c } = await connect();
    await sleep(LOGIN_TIMEOUT_MS / 2);
    const reply = await c.login(await gw.token('deadline-in-time'));
    expect(reply.op).toBe(LOGIN_REPLY);

    // Heartbeat well past the login deadline (and past one heartbeat timeout).
    const end = Date.now() + LOGIN_TIMEOUT_MS + HEARTBEAT.timeoutMs;
    while (Date.now() < end) {
      expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
      await sleep(HEARTBEAT.intervalMs);
    }
    expect(c.isClosed).toBe(false);
    expect(c.frames.some((f) => f.op === Op.KICK)).toBe(false);
  });

  it('keeps a silent connection that logged in in time until its heartbeat timeout, not the login deadline', async () => {
    const { c, connectingAt } = await connect();
    const loginSentAt = Date.now();
    expect((await c.login(await gw.token('deadline-silent'))).op).toBe(LOGIN_REPLY);
    const kick = await c.waitForOp(Op.KICK, HEARTBEAT.timeoutMs + MARGIN_MS);
    expect(kick.body.code).toBe(KickReason.HeartbeatTimeout);
    expect(Date.now() - loginSentAt).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - 2);
    expect(Date.now() - connectingAt).toBeGreaterThan(LOGIN_TIMEOUT_MS);
  });
});
