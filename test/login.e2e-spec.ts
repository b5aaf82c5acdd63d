import { SignJWT } from 'jose';
import { SessionService } from '../src/session/session.service';
import { ErrorCode } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';

const HEARTBEAT = { intervalMs: 100, timeoutMs: 300, sweepIntervalMs: 20 };
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('LOGIN', () => {
  let gw: TestGateway;
  let sessions: SessionService;
  let secret: Uint8Array;

  beforeAll(async () => {
    gw = await startGateway({ heartbeat: HEARTBEAT });
    sessions = gw.app.get(SessionService);
    secret = new TextEncoder().encode(gw.config.auth.jwtSecret);
  });
  afterAll(() => gw.close());

  /** True when the server's session for `uid` is the connection of `client`. */
  const isSessionOf = (uid: string, client: TestClient) =>
    sessions.find(uid)?.remotePort === client.socket.localPort;

  async function expectRejected(body: unknown, code: string) {
    const c = await gw.client();
    const seq = c.send(Op.LOGIN, body);
    const reply = await c.waitFor((f) => f.seq === seq);
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({ code, message: expect.any(String) });
    return { client: c, reply };
  }

  it('answers a valid token with the uid, the heartbeat timing and the server time', async () => {
    const c = await gw.client();
    const token = await gw.token('login-valid');
    const before = Date.now();
    const seq = c.send(Op.LOGIN, { token });
    const reply = await c.waitFor((f) => f.seq === seq);
    const after = Date.now();

    expect(reply.op).toBe(LOGIN_REPLY);
    expect(reply.body).toEqual({
      uid: 'login-valid',
      heartbeatIntervalMs: HEARTBEAT.intervalMs,
      heartbeatTimeoutMs: HEARTBEAT.timeoutMs,
      serverTimeMs: expect.any(Number),
      // The defaults of config/default.yaml: what a client must respect.
      limits: {
        maxPackets: 200,
        intervalMs: 1000,
        kickPackets: 400,
        maxFrameBytes: 65536,
        maxBytes: 524288,
        pushWindow: 64,
      },
    });
    expect(reply.body.serverTimeMs).toBeGreaterThanOrEqual(before);
    expect(reply.body.serverTimeMs).toBeLessThanOrEqual(after);
    expect(isSessionOf('login-valid', c)).toBe(true);
  });

  it('takes the uid from the token sub, never from a uid field in the body', async () => {
    const c = await gw.client();
    const reply = await c.request(Op.LOGIN, {
      token: await gw.token('login-sub'),
      uid: 'login-sub-impostor',
    });
    expect(reply.op).toBe(LOGIN_REPLY);
    expect(reply.body.uid).toBe('login-sub');
    expect(isSessionOf('login-sub', c)).toBe(true);
    expect(sessions.isOnline('login-sub-impostor')).toBe(false);
  });

  it('rejects an expired token with token-expired', async () => {
    const now = nowSeconds();
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('login-expired')
      .setIssuedAt(now - 3600)
      .setExpirationTime(now - 60)
      .sign(secret);
    await expectRejected({ token: expired }, ErrorCode.TokenExpired);
    expect(sessions.isOnline('login-expired')).toBe(false);
  });

  it('rejects a token signed with another secret with invalid-token', async () => {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('login-forged')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('not-the-gateway-secret-but-just-as-long'));
    await expectRejected({ token: forged }, ErrorCode.InvalidToken);
    expect(sessions.isOnline('login-forged')).toBe(false);
  });

  it('rejects an expired token signed with another secret as invalid, not expired', async () => {
    const now = nowSeconds();
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('login-forged-expired')
      .setExpirationTime(now - 60)
      .sign(new TextEncoder().encode('not-the-gateway-secret-but-just-as-long'));
    await expectRejected({ token: forged }, ErrorCode.InvalidToken);
  });

  it.each(['garbage', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9..', '...'])(
    'rejects a garbage token %p with invalid-token',
    async (token) => {
      await expectRejected({ token }, ErrorCode.InvalidToken);
    },
  );

  it('rejects an unsigned token (alg none) with invalid-token', async () => {
    const payload = { sub: 'login-none', iat: nowSeconds(), exp: nowSeconds() + 3600 };
    for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }]) {
      await expectRejected(
        { token: `${b64url(header)}.${b64url(payload)}.` },
        ErrorCode.InvalidToken,
      );
    }
    expect(sessions.isOnline('login-none')).toBe(false);
  });

  it('rejects a token without a sub with invalid-token', async () => {
    const noSub = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(secret);
    await expectRejected({ token: noSub }, ErrorCode.InvalidToken);
  });

  it('rejects a token without exp (it would never expire) with invalid-token', async () => {
    const forever = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('login-forever')
      .setIssuedAt()
      .sign(secret);
    await expectRejected({ token: forever }, ErrorCode.InvalidToken);
  });

  it.each([
    ['an empty body', undefined],
    ['an empty object', {}],
    ['a null body', null],
    ['a number token', { token: 42 }],
    ['a null token', { token: null }],
    ['an object token', { token: { sub: 'x' } }],
    ['an array token', { token: ['a.b.c'] }],
  ])('answers %s with bad-request naming token', async (_what, body) => {
    const { reply } = await expectRejected(body, ErrorCode.BadRequest);
    expect(reply.body.message).toMatch(/^token: /);
  });

  it.each([
    ['a missing token', {}],
    ['a number token', { token: 42 }],
    ['a null token', { token: null }],
  ])('explains %s as "token must be a string"', async (_what, body) => {
    const { reply } = await expectRejected(body, ErrorCode.BadRequest);
    expect(reply.body.message).toBe('token: token must be a string');
  });

  it('explains an empty token as too short', async () => {
    const { reply } = await expectRejected({ token: '' }, ErrorCode.BadRequest);
    expect(reply.body.message).toBe('token: token must be longer than or equal to 1 characters');
  });

  it('leaves the connection open after a rejected token, so the client can try again', async () => {
    const { client: c } = await expectRejected({ token: 'garbage' }, ErrorCode.InvalidToken);
    const reply = await c.login(await gw.token('login-retry'));
    expect(reply.op).toBe(LOGIN_REPLY);
    expect(reply.body.uid).toBe('login-retry');
    expect(c.isClosed).toBe(false);
  });

  it('accepts a second login of the same user on the same connection', async () => {
    const c = await gw.client();
    const token = await gw.token('login-twice');
    const first = await c.login(token);
    const second = await c.login(await gw.token('login-twice', '2h'));
    expect(first.op).toBe(LOGIN_REPLY);
    expect(second.op).toBe(LOGIN_REPLY);
    expect(second.body.uid).toBe('login-twice');
    expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(c.frames.some((f) => f.op === Op.KICK)).toBe(false);
    expect(c.isClosed).toBe(false);
    expect(isSessionOf('login-twice', c)).toBe(true);
  });

  it('refuses a login as a different user on a logged-in connection with already-logged-in', async () => {
    const c = await gw.loggedIn('login-first');
    const reply = await c.login(await gw.token('login-second'));
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({ code: ErrorCode.AlreadyLoggedIn, message: expect.any(String) });
    // The first session is untouched.
    expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(isSessionOf('login-first', c)).toBe(true);
    expect(sessions.isOnline('login-second')).toBe(false);
  });
});
