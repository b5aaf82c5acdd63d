import { Subscription } from 'rxjs';
import { LoginEvent, LogoutEvent } from '../src/session/session.events';
import { SessionService } from '../src/session/session.service';
import { KickReason } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const HEARTBEAT = { intervalMs: 100, timeoutMs: 400, sweepIntervalMs: 20 };
const MARGIN_MS = 250;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const LOGOUT_REPLY = (Op.LOGOUT | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
/** An application push op no handler claims (pushes need none). */
const PUSH_OP = 1500;

async function eventually(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('SessionService', () => {
  let gw: TestGateway;
  let sessions: SessionService;
  let opened: TestClient[] = [];
  const logins: LoginEvent[] = [];
  const logouts: LogoutEvent[] = [];
  const subscriptions: Subscription[] = [];
  /** Local ports, read while the sockets are open (a closed socket forgets its port). */
  const ports = new Map<TestClient, number>();

  beforeAll(async () => {
    gw = await startGateway({ heartbeat: HEARTBEAT });
    sessions = gw.app.get(SessionService);
    subscriptions.push(sessions.logins$.subscribe((e) => logins.push(e)));
    subscriptions.push(sessions.logouts$.subscribe((e) => logouts.push(e)));
  });
  afterAll(async () => {
    for (const s of subscriptions) s.unsubscribe();
    await gw.close();
  });

  // Every test starts with nobody online, so count() is exact.
  afterEach(async () => {
    for (const c of opened) c.close();
    opened = [];
    await eventually(() => sessions.count() === 0, 'registry empty after the test');
  });

  async function loggedIn(uid: string): Promise<TestClient> {
    const c = await gw.client();
    opened.push(c);
    ports.set(c, c.socket.localPort!);
    const reply = await c.login(await gw.token(uid));
    expect(reply.op).toBe(LOGIN_REPLY);
    return c;
  }

  const logoutsOf = (uid: string) => logouts.filter((e) => e.user.uid === uid);

  /** The session ended once, for `reason`, and the user is gone from the registry. */
  async function expectEndedOnce(uid: string, reason: string, client: TestClient) {
    await eventually(() => logoutsOf(uid).length > 0, `logout event for ${uid}`);
    await client.waitClosed(2000);
    await eventually(() => !sessions.isOnline(uid), `${uid} offline`);
    // Give a second event (say, from the socket close) the chance to show up.
    await sleep(50);
    const events = logoutsOf(uid);
    expect(events).toHaveLength(1);
    expect(events[0].reason).toBe(reason);
    expect(events[0].user.conn.remotePort).toBe(ports.get(client));
    expect(sessions.isOnline(uid)).toBe(false);
    expect(sessions.find(uid)).toBeUndefined();
    expect(sessions.getUser(uid)).toBeUndefined();
    expect([...sessions.onlineUids()]).not.toContain(uid);
  }

  describe('registry', () => {
    it('counts the online users', async () => {
      expect(sessions.count()).toBe(0);
      await loggedIn('svc-count-1');
      await loggedIn('svc-count-2');
      await loggedIn('svc-count-3');
      expect(sessions.count()).toBe(3);
      expect([...sessions.onlineUids()].sort()).toEqual([
        'svc-count-1',
        'svc-count-2',
        'svc-count-3',
      ]);
      // A second login of the same user does not count twice.
      await loggedIn('svc-count-1');
      expect(sessions.count()).toBe(3);
    });

    it('tells who is online', async () => {
      expect(sessions.isOnline('svc-online')).toBe(false);
      await loggedIn('svc-online');
      expect(sessions.isOnline('svc-online')).toBe(true);
      expect(sessions.isOnline('svc-online-nobody')).toBe(false);
    });

    it('finds the connection of a user, and the connection knows its user', async () => {
      const a = await loggedIn('svc-find-a');
      const b = await loggedIn('svc-find-b');
      const connA = sessions.find('svc-find-a')!;
      const connB = sessions.find('svc-find-b')!;
      expect(connA.remotePort).toBe(a.socket.localPort);
      expect(connB.remotePort).toBe(b.socket.localPort);
      expect(connA.user?.uid).toBe('svc-find-a');
      expect(connB.user?.uid).toBe('svc-find-b');
      expect(connA.isOpen).toBe(true);
      const user = sessions.getUser('svc-find-a')!;
      expect(user.conn).toBe(connA);
      expect(connA.user).toBe(user);
      expect(sessions.find('svc-find-nobody')).toBeUndefined();
    });
  });

  describe('push', () => {
    it('delivers a PDU with seq 0 to an online user', async () => {
      const c = await loggedIn('svc-push');
      expect(sessions.push('svc-push', PUSH_OP, { text: 'hello', n: 1 })).toBe(true);
      const frame = await c.waitForOp(PUSH_OP);
      expect(frame.seq).toBe(0);
      expect(frame.body).toEqual({ text: 'hello', n: 1 });
    });

    it('delivers a push without a body as an empty frame', async () => {
      const c = await loggedIn('svc-push-empty');
      expect(sessions.push('svc-push-empty', PUSH_OP)).toBe(true);
      const frame = await c.waitForOp(PUSH_OP);
      expect(frame.seq).toBe(0);
      expect(frame.raw.length).toBe(0);
    });

    it('returns false for an offline user', async () => {
      expect(sessions.push('svc-push-nobody', PUSH_OP, { text: 'hello' })).toBe(false);
    });

    it('returns false once the user has gone', async () => {
      const c = await loggedIn('svc-push-gone');
      c.close();
      await eventually(() => !sessions.isOnline('svc-push-gone'), 'svc-push-gone offline');
      expect(sessions.push('svc-push-gone', PUSH_OP, {})).toBe(false);
    });
  });

  describe('kick', () => {
    it('sends KICK {code: reason} and closes the connection', async () => {
      const c = await loggedIn('svc-kick');
      expect(sessions.kick('svc-kick', 'banned', 'you are banned')).toBe(true);
      const kick = await c.waitForOp(Op.KICK);
      expect(kick.seq).toBe(0);
      expect(kick.body).toEqual({ code: 'banned', message: 'you are banned' });
      // The user leaves the registry at once, not when the socket closes.
      expect(sessions.isOnline('svc-kick')).toBe(false);
      await c.waitClosed(2000);
    });

    it('uses the reason as the message when none is given', async () => {
      const c = await loggedIn('svc-kick-plain');
      sessions.kick('svc-kick-plain', 'maintenance');
      expect((await c.waitForOp(Op.KICK)).body).toEqual({
        code: 'maintenance',
        message: 'maintenance',
      });
      await c.waitClosed(2000);
    });

    it('returns false for an offline user', () => {
      expect(sessions.kick('svc-kick-nobody', 'banned')).toBe(false);
    });
  });

  describe('logins$', () => {
    it('fires on login with the bound user and connection', async () => {
      const c = await loggedIn('svc-login-event');
      const events = logins.filter((e) => e.user.uid === 'svc-login-event');
      expect(events).toHaveLength(1);
      expect(events[0].user.conn).toBe(sessions.find('svc-login-event'));
      expect(events[0].user.conn.remotePort).toBe(c.socket.localPort);
    });

    it('does not fire for a rejected login', async () => {
      const c = await gw.client();
      opened.push(c);
      expect((await c.login('garbage')).op).toBe(Op.ERROR);
      const before = logins.length;
      const first = await loggedIn('svc-login-once');
      expect((await first.login(await gw.token('svc-login-other'))).op).toBe(Op.ERROR);
      expect(logins.length).toBe(before + 1);
      expect(logins.filter((e) => e.user.uid === 'svc-login-other')).toHaveLength(0);
    });
  });

  describe('logouts$ fires exactly once per session, and the user leaves the registry', () => {
    it('on a LOGOUT PDU: the client gets the reply, then the server closes', async () => {
      const c = await loggedIn('svc-end-logout');
      const reply = await c.request(Op.LOGOUT);
      expect(reply.op).toBe(LOGOUT_REPLY);
      expect(reply.seq).toBeGreaterThan(0);
      await c.waitClosed(2000);
      // Nothing but the reply came after login: no KICK, no ERROR.
      expect(c.frames.map((f) => f.op)).toEqual([LOGIN_REPLY, LOGOUT_REPLY]);
      await expectEndedOnce('svc-end-logout', KickReason.Logout, c);
    });

    it('when the client closes the socket', async () => {
      const c = await loggedIn('svc-end-close');
      c.close();
      await expectEndedOnce('svc-end-close', 'peer-closed', c);
    });

    it('when the client half-closes the socket', async () => {
      const c = await loggedIn('svc-end-half-close');
      c.socket.end();
      await eventually(() => logoutsOf('svc-end-half-close').length > 0, 'logout event');
      c.close();
      await expectEndedOnce('svc-end-half-close', 'peer-closed', c);
    });

    it('on a relogin kick (once for the first session, none for the second)', async () => {
      const first = await loggedIn('svc-end-relogin');
      const second = await loggedIn('svc-end-relogin');
      await first.waitForOp(Op.KICK);
      await first.waitClosed(2000);
      await sleep(50);
      const events = logoutsOf('svc-end-relogin');
      expect(events).toHaveLength(1);
      expect(events[0].reason).toBe(KickReason.Relogin);
      expect(events[0].user.conn.remotePort).toBe(ports.get(first));
      // The new session holds the uid.
      expect(sessions.find('svc-end-relogin')?.remotePort).toBe(second.socket.localPort);
      second.close();
      await eventually(() => logoutsOf('svc-end-relogin').length === 2, 'second logout');
      expect(logoutsOf('svc-end-relogin')[1].reason).toBe('peer-closed');
      expect(logoutsOf('svc-end-relogin')[1].user.conn.remotePort).toBe(ports.get(second));
      await eventually(() => !sessions.isOnline('svc-end-relogin'), 'offline');
    });

    it('on a heartbeat timeout', async () => {
      const c = await loggedIn('svc-end-heartbeat');
      const kick = await c.waitForOp(Op.KICK, HEARTBEAT.timeoutMs + MARGIN_MS);
      expect(kick.body.code).toBe(KickReason.HeartbeatTimeout);
      await expectEndedOnce('svc-end-heartbeat', KickReason.HeartbeatTimeout, c);
    });

    it('on a heartbeat timeout of a dead peer: the user leaves the registry at the KICK', async () => {
      const c = await loggedIn('svc-end-dead-peer');
      // A dead peer: it never answers the server's FIN.
      c.socket.allowHalfOpen = true;
      const kick = await c.waitForOp(Op.KICK, HEARTBEAT.timeoutMs + MARGIN_MS);
      expect(kick.body.code).toBe(KickReason.HeartbeatTimeout);
      await eventually(
        () => !sessions.isOnline('svc-end-dead-peer'),
        'dead peer offline after its heartbeat-timeout KICK',
        MARGIN_MS,
      );
      expect(logoutsOf('svc-end-dead-peer').map((e) => e.reason)).toEqual([
        KickReason.HeartbeatTimeout,
      ]);
    });

    it('reports a heartbeat timeout followed by a quick reconnect as heartbeat-timeout, not relogin', async () => {
      const dead = await loggedIn('svc-end-reconnect');
      dead.socket.allowHalfOpen = true;
      await dead.waitForOp(Op.KICK, HEARTBEAT.timeoutMs + MARGIN_MS);
      const fresh = await loggedIn('svc-end-reconnect');
      expect(sessions.find('svc-end-reconnect')?.remotePort).toBe(ports.get(fresh));
      await sleep(50);
      const events = logoutsOf('svc-end-reconnect');
      expect(events).toHaveLength(1);
      expect(events[0].user.conn.remotePort).toBe(ports.get(dead));
      expect(events[0].reason).toBe(KickReason.HeartbeatTimeout);
    });

    it('on SessionService.kick', async () => {
      const c = await loggedIn('svc-end-kick');
      sessions.kick('svc-end-kick', 'banned');
      await c.waitForOp(Op.KICK);
      await expectEndedOnce('svc-end-kick', 'banned', c);
    });

    it('once even when the user is kicked twice', async () => {
      const c = await loggedIn('svc-end-kick-twice');
      expect(sessions.kick('svc-end-kick-twice', 'banned')).toBe(true);
      expect(sessions.kick('svc-end-kick-twice', 'banned-again')).toBe(false);
      await expectEndedOnce('svc-end-kick-twice', 'banned', c);
    });

    it('once when a LOGOUT is followed by the client closing at once', async () => {
      const c = await loggedIn('svc-end-logout-close');
      c.send(Op.LOGOUT);
      await c.waitForOp(LOGOUT_REPLY);
      c.close();
      await expectEndedOnce('svc-end-logout-close', KickReason.Logout, c);
    });
  });

  it('keeps a session that heartbeats alive while others end around it', async () => {
    const steady = await loggedIn('svc-steady');
    const other = await loggedIn('svc-steady-other');
    sessions.kick('svc-steady-other', 'banned');
    await other.waitClosed(2000);
    expect((await steady.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(sessions.isOnline('svc-steady')).toBe(true);
    expect(logoutsOf('svc-steady')).toHaveLength(0);
  });
});
