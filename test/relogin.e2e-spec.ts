import { SessionService } from '../src/session/session.service';
import { KickReason } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ReceivedFrame, TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const HEARTBEAT = { intervalMs: 100, timeoutMs: 300, sweepIntervalMs: 20 };
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

async function eventually(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('a second login of the same user kicks the first', () => {
  let gw: TestGateway;
  let sessions: SessionService;
  let opened: TestClient[] = [];

  beforeAll(async () => {
    gw = await startGateway({ heartbeat: HEARTBEAT });
    sessions = gw.app.get(SessionService);
  });
  afterAll(() => gw.close());

  // Every test starts with nobody online, so count() is exact.
  afterEach(async () => {
    for (const c of opened) c.close();
    opened = [];
    await eventually(() => sessions.count() === 0, 'registry empty after the test');
  });

  async function client(): Promise<TestClient> {
    const c = await gw.client();
    opened.push(c);
    return c;
  }

  async function loggedIn(uid: string): Promise<TestClient> {
    const c = await client();
    const reply = await c.login(await gw.token(uid));
    expect(reply.op).toBe(LOGIN_REPLY);
    return c;
  }

  it('sends the first connection KICK relogin (seq 0), then closes it', async () => {
    const first = await loggedIn('relogin-a');
    const second = await loggedIn('relogin-a');

    const kick = await first.waitForOp(Op.KICK);
    expect(kick.seq).toBe(0);
    expect(kick.body).toEqual({ code: KickReason.Relogin, message: expect.any(String) });
    await first.waitClosed(2000);
    // Nothing follows the KICK.
    expect(first.frames[first.frames.length - 1]).toBe(kick);

    expect(second.isClosed).toBe(false);
    expect(second.frames.some((f) => f.op === Op.KICK)).toBe(false);
    expect((await second.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(sessions.find('relogin-a')?.remotePort).toBe(second.socket.localPort);
  });

  it('keeps the second session working after the first connection is gone', async () => {
    const first = await loggedIn('relogin-b');
    const second = await loggedIn('relogin-b');
    await first.waitClosed(2000);
    // The closing of the kicked connection must not unbind the new session.
    await sleep(50);
    expect(sessions.isOnline('relogin-b')).toBe(true);
    expect(sessions.find('relogin-b')?.remotePort).toBe(second.socket.localPort);
    expect(sessions.push('relogin-b', 1234, { n: 1 })).toBe(true);
    expect((await second.waitForOp(1234)).body).toEqual({ n: 1 });
    expect((await second.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
  });

  it('leaves exactly one of ten racing logins logged in and kicks the other nine', async () => {
    const uid = 'relogin-race';
    const clients = await Promise.all(Array.from({ length: 10 }, () => client()));
    const token = await gw.token(uid);
    const seqs = clients.map((c) => c.send(Op.LOGIN, { token }));

    // Each connection either gets its login reply or a KICK (a kicked one may get both).
    const outcomes = await Promise.all(
      clients.map((c, i) =>
        c.waitFor(
          (f: ReceivedFrame) => f.op === Op.KICK || (f.seq === seqs[i] && f.op === LOGIN_REPLY),
        ),
      ),
    );
    expect(outcomes.every((f) => f.op !== Op.ERROR)).toBe(true);

    // Let every kick land and every kicked socket close.
    await eventually(
      () => clients.filter((c) => c.isClosed).length >= 9,
      'nine kicked connections closed',
    );
    await sleep(100);

    const kicked = clients.filter((c) => c.frames.some((f) => f.op === Op.KICK));
    const survivors = clients.filter((c) => !c.frames.some((f) => f.op === Op.KICK));
    expect(kicked).toHaveLength(9);
    expect(survivors).toHaveLength(1);
    for (const c of kicked) {
      const kick = c.frames.find((f) => f.op === Op.KICK)!;
      expect(kick.seq).toBe(0);
      expect(kick.body.code).toBe(KickReason.Relogin);
      expect(c.isClosed).toBe(true);
    }

    const [survivor] = survivors;
    expect(survivor.isClosed).toBe(false);
    expect(survivor.frames.some((f) => f.op === LOGIN_REPLY && f.body.uid === uid)).toBe(true);
    const conn = sessions.find(uid);
    expect(conn).toBeDefined();
    expect(conn!.isOpen).toBe(true);
    expect(conn!.remotePort).toBe(survivor.socket.localPort);
    expect(conn!.user?.uid).toBe(uid);
    expect(sessions.count()).toBe(1);
    expect((await survivor.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
  });

  it('drops the user from the registry once the surviving connection closes', async () => {
    const uid = 'relogin-gone';
    const clients = await Promise.all(Array.from({ length: 10 }, () => client()));
    const token = await gw.token(uid);
    for (const c of clients) c.send(Op.LOGIN, { token });
    await eventually(
      () => clients.filter((c) => c.isClosed).length === 9,
      'nine kicked connections closed',
    );
    const survivor = clients.find((c) => !c.isClosed)!;
    await survivor.waitForOp(LOGIN_REPLY);
    expect(sessions.isOnline(uid)).toBe(true);

    survivor.close();
    await eventually(() => !sessions.isOnline(uid), 'user offline after the survivor closed');
    expect(sessions.find(uid)).toBeUndefined();
    expect(sessions.count()).toBe(0);
  });
});
