import { SessionService } from '../src/session/session.service';
import { ErrorCode, KickReason } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const HEARTBEAT = { intervalMs: 100, timeoutMs: 300, sweepIntervalMs: 20 };
/** How late after timeoutMs the server may close a silent connection (sweep granularity + load). */
const MARGIN_MS = 250;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
/** An op no handler claims. */
const UNKNOWN_OP = 4242;

/** Runs `tick` every `everyMs` until `forMs` have passed, while checking the client stays open. */
async function keepBusy(c: TestClient, everyMs: number, forMs: number, tick: () => void) {
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    tick();
    await sleep(everyMs);
    expect(c.isClosed).toBe(false);
  }
}

describe('heartbeat timeout', () => {
  let gw: TestGateway;
  let sessions: SessionService;

  beforeAll(async () => {
    gw = await startGateway({ heartbeat: HEARTBEAT });
    sessions = gw.app.get(SessionService);
  });
  afterAll(() => gw.close());

  /** Logs in by hand; returns the client and the time just before the LOGIN was sent. */
  async function silentLogin(uid: string): Promise<{ c: TestClient; sentAt: number }> {
    const c = await gw.client();
    const token = await gw.token(uid);
    const sentAt = Date.now();
    const reply = await c.login(token);
    expect(reply.op).toBe(LOGIN_REPLY);
    return { c, sentAt };
  }

  it('kicks a silent logged-in client with heartbeat-timeout after about timeoutMs', async () => {
    const { c, sentAt } = await silentLogin('hb-silent');
    let closedAt = 0;
    void c.closed.then(() => (closedAt = Date.now()));

    // Well before the timeout the connection is still there.
    await sleep(HEARTBEAT.timeoutMs * 0.6);
    expect(c.isClosed).toBe(false);
    expect(c.frames.some((f) => f.op === Op.KICK)).toBe(false);

    const kick = await c.waitForOp(Op.KICK, HEARTBEAT.timeoutMs + MARGIN_MS);
    const kickedAt = Date.now();
    expect(kick.seq).toBe(0);
    expect(kick.body).toEqual({ code: KickReason.HeartbeatTimeout, message: expect.any(String) });
    await c.waitClosed(HEARTBEAT.timeoutMs + MARGIN_MS);

    // The server's clock starts no earlier than sentAt (when the LOGIN frame arrived).
    expect(kickedAt - sentAt).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - 2);
    expect(closedAt - sentAt).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - 2);
    expect(closedAt - sentAt).toBeLessThanOrEqual(HEARTBEAT.timeoutMs + MARGIN_MS);
  });

  it('keeps a client that heartbeats every intervalMs connected over several timeouts', async () => {
    const { c } = await silentLogin('hb-steady');
    await keepBusy(c, HEARTBEAT.intervalMs, HEARTBEAT.timeoutMs * 4, () => c.send(Op.HEARTBEAT));
    expect(c.frames.some((f) => f.op === Op.KICK)).toBe(false);
    expect(c.frames.filter((f) => f.op === HEARTBEAT_REPLY).length).toBeGreaterThanOrEqual(10);
    expect(sessions.isOnline('hb-steady')).toBe(true);
  });

  it('counts any frame as life, not only heartbeats: an unknown op refreshes lastTick', async () => {
    const { c } = await silentLogin('hb-unknown-op');
    await keepBusy(c, HEARTBEAT.intervalMs, HEARTBEAT.timeoutMs * 4, () =>
      c.send(UNKNOWN_OP, { hello: 'still here' }),
    );
    expect(c.frames.some((f) => f.op === Op.KICK)).toBe(false);
    const errors = c.frames.filter((f) => f.op === Op.ERROR);
    expect(errors.length).toBeGreaterThanOrEqual(10);
    expect(errors.every((f) => f.body.code === ErrorCode.UnknownOp)).toBe(true);
    expect(sessions.isOnline('hb-unknown-op')).toBe(true);
  });

  it('times out from the last frame received, not from login', async () => {
    const { c } = await silentLogin('hb-last-frame');
    // Stay busy for two timeouts, then fall silent.
    await keepBusy(c, HEARTBEAT.intervalMs, HEARTBEAT.timeoutMs * 2, () => c.send(Op.HEARTBEAT));
    const lastSentAt = Date.now();
    c.send(Op.HEARTBEAT);
    await c.waitClosed(HEARTBEAT.timeoutMs + MARGIN_MS);
    const silentFor = Date.now() - lastSentAt;
    expect(silentFor).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - 2);
    expect(c.frames.find((f) => f.op === Op.KICK)?.body.code).toBe(KickReason.HeartbeatTimeout);
  });

  it('removes a timed-out user from the session registry', async () => {
    const { c } = await silentLogin('hb-registry');
    expect(sessions.isOnline('hb-registry')).toBe(true);
    await c.waitClosed(HEARTBEAT.timeoutMs + MARGIN_MS);
    const deadline = Date.now() + 1000;
    while (sessions.isOnline('hb-registry') && Date.now() < deadline) await sleep(5);
    expect(sessions.isOnline('hb-registry')).toBe(false);
    expect(sessions.find('hb-registry')).toBeUndefined();
  });
});
