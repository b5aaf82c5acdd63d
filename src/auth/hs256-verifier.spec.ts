import fc from 'fast-check';
import { SignJWT, errors, jwtVerify } from 'jose';
import { createHmac } from 'node:crypto';
import { Hs256Verifier, TokenError } from './hs256-verifier';

const SECRET = 'a-test-secret-of-some-length-0123456789';
const KEY = new TextEncoder().encode(SECRET);
const NOW_S = Math.floor(Date.now() / 1000);

type Outcome = { ok: true; sub: string } | { ok: false; expired: boolean };

/** What jose's jwtVerify, configured and followed as AuthService used it, says of a token. */
async function byJose(
  token: string,
  issuer: string | null,
  audience: string | null,
): Promise<Outcome> {
  try {
    const { payload } = await jwtVerify(token, KEY, {
      algorithms: ['HS256'],
      issuer: issuer ?? undefined,
      audience: audience ?? undefined,
      requiredClaims: ['sub', 'exp'],
    });
    // AuthService refused a sub that is not a string itself.
    if (typeof payload.sub !== 'string') return { ok: false, expired: false };
    return { ok: true, sub: payload.sub };
  } catch (err) {
    return { ok: false, expired: err instanceof errors.JWTExpired };
  }
}

function byVerifier(token: string, issuer: string | null, audience: string | null): Outcome {
  try {
    return {
      ok: true,
      sub: new Hs256Verifier({ secret: SECRET, issuer, audience }).verify(token).sub,
    };
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    return { ok: false, expired: err.code === 'ERR_JWT_EXPIRED' };
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token with any header and payload, signed with `secret` (so claims, not the MAC, decide). */
function hand(header: unknown, payload: unknown, secret = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function expectSame(
  token: string,
  issuer: string | null = null,
  audience: string | null = null,
) {
  expect(byVerifier(token, issuer, audience)).toEqual(await byJose(token, issuer, audience));
}

describe('Hs256Verifier decides as jose jwtVerify did', () => {
  const exp = NOW_S + 3600;

  it('accepts what jose signs, with the same sub', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(KEY);
    expect(byVerifier(token, null, null)).toEqual({ ok: true, sub: 'alice' });
    await expectSame(token);
  });

  it.each([
    ['expired', { sub: 'u', exp: NOW_S - 10 }],
    ['exp now', { sub: 'u', exp: NOW_S }],
    ['no exp', { sub: 'u' }],
    ['no sub', { exp }],
    ['sub not a string', { sub: 42, exp }],
    ['exp a string', { sub: 'u', exp: String(exp) }],
    ['nbf in the future', { sub: 'u', exp, nbf: NOW_S + 600 }],
    ['nbf past', { sub: 'u', exp, nbf: NOW_S - 600 }],
    ['iat a string', { sub: 'u', exp, iat: 'yesterday' }],
    ['extra claims', { sub: 'u', exp, role: 'admin', nested: { a: [1, 2] } }],
  ])('payload: %s', async (_name, payload) => {
    await expectSame(hand({ alg: 'HS256' }, payload));
  });

  it.each([
    ['alg none', { alg: 'none' }],
    ['alg HS384', { alg: 'HS384' }],
    ['no alg', { typ: 'JWT' }],
    ['alg not a string', { alg: 7 }],
    ['typ JWT', { alg: 'HS256', typ: 'JWT' }],
    ['crit', { alg: 'HS256', crit: ['exp'], exp: 1 }],
    ['b64 false', { alg: 'HS256', b64: false, crit: ['b64'] }],
  ])('header: %s', async (_name, header) => {
    await expectSame(hand(header, { sub: 'u', exp }));
  });

  it('refuses a wrong secret, a tampered payload and a truncated signature', async () => {
    await expectSame(hand({ alg: 'HS256' }, { sub: 'u', exp }, 'another-secret'));
    const [h, , s] = hand({ alg: 'HS256' }, { sub: 'u', exp }).split('.');
    await expectSame(`${h}.${b64({ sub: 'admin', exp })}.${s}`);
    await expectSame(`${h}.${b64({ sub: 'u', exp })}.${s.slice(0, 20)}`);
    await expectSame(`${h}.${b64({ sub: 'u', exp })}.`);
  });

  it.each(['', '.', '..', 'a.b', 'a.b.c.d', 'e30.e30.', '!!!.e30.abc', 'e30.e30.e30'])(
    'refuses the malformed %j',
    async (token) => {
      await expectSame(token);
    },
  );

  it('checks iss and aud when configured', async () => {
    const t = (claims: object) => hand({ alg: 'HS256' }, { sub: 'u', exp, ...claims });
    await expectSame(t({ iss: 'me' }), 'me', null);
    await expectSame(t({ iss: 'you' }), 'me', null);
    await expectSame(t({}), 'me', null);
    await expectSame(t({ aud: 'app' }), null, 'app');
    await expectSame(t({ aud: ['web', 'app'] }), null, 'app');
    await expectSame(t({ aud: ['web'] }), null, 'app');
    await expectSame(t({}), null, 'app');
  });

  it('agrees on tokens with a character changed anywhere', async () => {
    const token = hand({ alg: 'HS256' }, { sub: 'user-1', exp });
    const alphabet = 'AZaz09-_.=+/ ';
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: token.length - 1 }),
        fc.nat({ max: alphabet.length - 1 }),
        async (at, c) => {
          const mutated = token.slice(0, at) + alphabet[c] + token.slice(at + 1);
          const ours = byVerifier(mutated, null, null);
          const theirs = await byJose(mutated, null, null);
          expect(ours).toEqual(theirs);
          // Only a change in the signature's last character's unused low bits (base64url
          // carries 258 bits for 256) keeps the same bytes; anything else is refused.
          if (ours.ok && mutated !== token) expect(at).toBe(token.length - 1);
        },
      ),
      { numRuns: 300 },
    );
  });
});
