import { SignJWT } from 'jose';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { SessionService } from '../src/session/session.service';
import { encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { forgedToken } from './support/forged-token';
import { RawFrame, RawPeer } from './support/raw-peer';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

/**
 * Abuse: token guessing. After auth.maxFailedLogins failed logins from one IP
 * within auth.failedLoginWindowMs, the LOGIN that crosses the limit is answered
 * ERROR ip-banned and the connection closes; the IP is then refused at accept
 * for auth.failedLoginBanMs. Attackers use their own 127.0.0.x addresses; other
 * IPs, and a logged-in bystander on 127.0.0.1, keep working.
 */

const MAX_FAILED = 3;
const WINDOW_MS = 5000;
const BAN_MS = 1500;
const P99_BOUND_MS = 200;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;

/** A raw client from a chosen source address. */
class Client extends RawPeer {
  /** Sends LOGIN {token}; resolves with its answer, or undefined if the connection closed first. */
  login(token: string, timeoutMs = 3000): Promise<RawFrame | undefined> {
    return super.login(token, timeoutMs);
  }
}

/** The server closes the socket at accept: no byte is ever sent, whatever the client writes. */
async function expectRefusedAtAccept(gw: TestGateway, localAddress: string): Promise<void> {
  const c = await Client.open(gw.port, localAddress);
  c.socket.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('valid-but-banned') }));
  await Promise.race([c.done, sleep(2000)]);
  expect(c.closed).toBe(true);
  expect(c.bytes).toBe(0);
}

async function expectLoginWorks(
  gw: TestGateway,
  localAddress: string,
  uid: string,
): Promise<Client> {
  const c = await Client.open(gw.port, localAddress);
  const answer = await c.login(await gw.token(uid));
  expect(answer?.op).toBe(LOGIN_REPLY);
  expect(c.closed).toBe(false);
  return c;
}

function withGateway(auth: LonglinkConfigOverrides['auth']) {
  const t = {} as {
    gw: TestGateway;
    probe: HeartbeatProbe;
    baseline: LatencyStats;
    opened: Client[];
  };
  beforeAll(async () => {
    // Room before login for a token over LOGIN's 8192 characters, so that check is reached.
    t.gw = await startGateway({ auth, server: { maxPreLoginFrameBytes: 16_384 } });
    t.probe = await HeartbeatProbe.open({
      port: t.gw.port,
      token: await t.gw.token('bystander'),
      localAddress: '127.0.0.1',
    });
    t.baseline = await t.probe.measure(100, 10);
    t.opened = [];
  });
  afterEach(() => {
    for (const c of t.opened.splice(0)) c.socket.destroy();
  });
  afterAll(async () => {
    t.probe.close();
    await t.gw.close();
  });
  return t;
}

describe('abuse: repeated failed logins', () => {
  describe(`ban after ${MAX_FAILED} failures in ${WINDOW_MS} ms, for ${BAN_MS} ms`, () => {
    const t = withGateway({
      maxFailedLogins: MAX_FAILED,
      failedLoginWindowMs: WINDOW_MS,
      failedLoginBanMs: BAN_MS,
    });
    const open = async (address: string) => {
      const c = await Client.open(t.gw.port, address);
      t.opened.push(c);
      return c;
    };

    it('answers the failure that crosses the limit with ERROR ip-banned and closes, refuses the IP at accept during the ban, and admits it after; other IPs work throughout', async () => {
      t.probe.startBackground(10);
      const attacker = await open('127.0.0.2');
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('victim')
        .setExpirationTime(now - 60)
        .sign(new TextEncoder().encode(t.gw.config.auth.jwtSecret));
      expect((await attacker.login(await forgedToken('victim')))?.code).toBe('invalid-token');
      expect((await attacker.login(expired))?.code).toBe('token-expired');
      expect(attacker.closed).toBe(false);
      const third = await attacker.login(await forgedToken('victim'));
      const bannedAt = Date.now();
      expect(third).toEqual({ op: Op.ERROR, seq: 3, code: 'ip-banned' });
      await Promise.race([attacker.done, sleep(2000)]);
      expect(attacker.closed).toBe(true);
      expect(attacker.frames[attacker.frames.length - 1]).toBe(third);

      // Refused at accept, before a byte is read: even a valid token cannot get in.
      await expectRefusedAtAccept(t.gw, '127.0.0.2');
      // Another IP logs in during the ban.
      t.opened.push(await expectLoginWorks(t.gw, '127.0.0.3', 'someone-else'));
      const during = await t.probe.stopBackground();
      console.log(
        `[failed logins] bystander heartbeat RTT: baseline ${formatStats(t.baseline)}; during the attack ${formatStats(during)}`,
      );
      expect(t.probe.missed).toBe(0);
      expect(during.p99).toBeLessThan(P99_BOUND_MS);
      expect(t.gw.app.get(SessionService).isOnline('victim')).toBe(false);

      // After failedLoginBanMs the IP is admitted again.
      await sleep(Math.max(0, bannedAt + BAN_MS + 100 - Date.now()));
      t.opened.push(await expectLoginWorks(t.gw, '127.0.0.2', 'reformed'));
    });

    it('counts failures from one IP across connections', async () => {
      const answers: (string | undefined)[] = [];
      for (let i = 0; i < MAX_FAILED; i++) {
        const c = await open('127.0.0.4');
        answers.push((await c.login(await forgedToken(`guess-${i}`)))?.code);
      }
      expect(answers).toEqual([...Array(MAX_FAILED - 1).fill('invalid-token'), 'ip-banned']);
      await expectRefusedAtAccept(t.gw, '127.0.0.4');
      // The bystander's address never failed: unaffected.
      expect((await t.probe.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
    });

    it('counts malformed LOGINs (oversized, missing or non-string tokens) as failures too', async () => {
      const c = await open('127.0.0.8');
      const codes: (string | undefined)[] = [];
      for (const token of ['x'.repeat(9000), undefined, 42]) {
        codes.push((await c.login(token as string))?.code);
      }
      expect(codes).toEqual(['bad-request', 'bad-request', 'ip-banned']);
      await expectRefusedAtAccept(t.gw, '127.0.0.8');
    });

    it('stops a storm of guesses from many connections of one IP at the ban, while the bystander is served', async () => {
      t.probe.startBackground(10);
      const CONNECTIONS = 30;
      const tally = { refusedAtAccept: 0, banned: 0, invalid: 0, other: [] as string[] };
      const forged = await forgedToken('storm');
      // One after another (a blocking bind() per explicit source address), each guessing until closed.
      for (let i = 0; i < CONNECTIONS; i++) {
        const c = await open('127.0.0.5');
        while (!c.closed) {
          const a = await c.login(forged);
          if (a?.code === 'ip-banned') tally.banned++;
          else if (a?.code === 'invalid-token') tally.invalid++;
          else if (a) tally.other.push(String(a.code));
          else if (c.bytes === 0) tally.refusedAtAccept++;
        }
      }
      const during = await t.probe.stopBackground();
      console.log(
        `[failed-login storm] ${tally.invalid} invalid-token, ${tally.banned} ip-banned, ${tally.refusedAtAccept} refused at accept; bystander RTT during ${formatStats(during)}`,
      );
      expect(tally.other).toEqual([]);
      expect(tally.invalid).toBe(MAX_FAILED - 1);
      expect(tally.banned).toBe(1);
      expect(tally.refusedAtAccept).toBe(CONNECTIONS - 1);
      expect(t.probe.missed).toBe(0);
      expect(during.p99).toBeLessThan(P99_BOUND_MS);
    });

    // A ban also closes the IP's connections that are not logged in, and LOGIN checks it.
    it('refuses further guesses on connections the banned IP opened before the ban', async () => {
      const preOpened = await Promise.all([open('127.0.0.6'), open('127.0.0.6')]);
      const guesser = await open('127.0.0.6');
      for (let i = 0; i < MAX_FAILED; i++) await guesser.login(await forgedToken('victim'));
      expect(guesser.frames.map((a) => a.code).at(-1)).toBe('ip-banned');
      const outcomes: string[] = [];
      for (const c of preOpened) {
        const answer = await c.login(await forgedToken('victim'));
        outcomes.push(c.closed && answer === undefined ? 'closed' : String(answer?.code));
      }
      // Either closed already, or answered ip-banned (and then closed): no more guesses.
      expect(outcomes).toEqual(preOpened.map(() => expect.stringMatching(/^(closed|ip-banned)$/)));
    });
  });

  describe('failures spread over more than the window', () => {
    const t = withGateway({
      maxFailedLogins: MAX_FAILED,
      failedLoginWindowMs: 400,
      failedLoginBanMs: BAN_MS,
    });

    it('does not ban an IP whose failures never reach the limit within one window', async () => {
      const c = await Client.open(t.gw.port, '127.0.0.7');
      t.opened.push(c);
      const codes: (string | undefined)[] = [];
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < MAX_FAILED - 1; i++)
          codes.push((await c.login(await forgedToken('x')))?.code);
        await sleep(450); // the window runs out
      }
      expect(codes).toEqual(Array(3 * (MAX_FAILED - 1)).fill('invalid-token'));
      expect(c.closed).toBe(false);
      expect((await c.login(await t.gw.token('finally')))?.op).toBe(LOGIN_REPLY);
    });
  });
});
