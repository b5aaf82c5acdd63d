import { SignJWT } from 'jose';
import { AttackTally } from '../../../test/support/attack-client';
import { Attack, lanes, resultOf } from './context';
import { describeGuesses, guessFailures, guessUntilClosed } from './login-guesser';

const CONNECTIONS_PER_KIND = 2;
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Tokens an attacker can make without the secret, or with an old one. `ban`: counts as a failed login. */
async function forgeries(
  secret: string,
  valid: string,
): Promise<{ kind: string; token: string; ban: boolean }[]> {
  const key = new TextEncoder().encode(secret);
  const other = new TextEncoder().encode('not-the-gateway-secret-but-just-as-long');
  const now = Math.floor(Date.now() / 1000);
  const base = () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('victim');
  const [header, , signature] = valid.split('.');
  return [
    { kind: 'other-secret', token: await base().setExpirationTime('1h').sign(other), ban: true },
    {
      kind: 'expired',
      token: await base()
        .setExpirationTime(now - 60)
        .sign(key),
      ban: true,
    },
    {
      kind: 'alg-none',
      token: `${b64url({ alg: 'none' })}.${b64url({ sub: 'victim', exp: now + 3600 })}.`,
      ban: true,
    },
    {
      kind: 'tampered-sub',
      token: `${header}.${b64url({ sub: 'victim', exp: now + 3600 })}.${signature}`,
      ban: true,
    },
    {
      kind: 'hs512',
      token: await new SignJWT({})
        .setProtectedHeader({ alg: 'HS512' })
        .setSubject('victim')
        .setExpirationTime('1h')
        .sign(key),
      ban: true,
    },
    { kind: 'no-exp', token: await base().sign(key), ban: true },
    {
      kind: 'not-yet-valid',
      token: await base()
        .setExpirationTime(now + 7200)
        .setNotBefore(now + 3600)
        .sign(key),
      ban: true,
    },
    { kind: 'garbage', token: 'x'.repeat(300), ban: true },
    // Over the 8192-character limit: refused as bad-request before any verification.
    { kind: 'over-8192', token: 'x'.repeat(9000), ban: false },
  ];
}

/**
 * Forged, expired, unsigned, tampered and malformed tokens: each kind from its own
 * address, 2 connections, LOGIN after LOGIN until closed, reconnecting. None may
 * log in; every kind that reaches verification counts as a failed login and gets its
 * address banned.
 */
export const forgedTokens: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const kinds = await forgeries(ctx.secret, await ctx.token('mallory'));
  const tallies = kinds.map(() => new AttackTally());
  await Promise.all(
    kinds.map(({ token }, k) =>
      lanes(CONNECTIONS_PER_KIND, stopAt, () =>
        guessUntilClosed(ctx, ctx.address(1 + k), () => token, tallies[k], stopAt),
      ),
    ),
  );
  const all = new AttackTally();
  const notes: string[] = [];
  const failures: string[] = [];
  kinds.forEach(({ kind, ban }, k) => {
    all.merge(tallies[k]);
    notes.push(`${kind} (${ctx.address(1 + k)}): ${describeGuesses(tallies[k])}`);
    failures.push(...guessFailures(kind, tallies[k], ban));
    if (!ban && !tallies[k].errors['ip-banned']) {
      notes.push(
        `${kind}: never banned: a LOGIN refused before verification (bad-request) is not a failed login, so only the packet rate limit (KICK) and the connect-rate cap slow it down`,
      );
    }
  });
  const banned = tallies.filter((t) => t.errors['ip-banned']).length;
  return resultOf(ctx.phase, all, {
    stoppedBy: `no forged login accepted (${all.logins}); ${banned}/${kinds.length} addresses banned; ${describeGuesses(all)}`,
    notes,
    failures,
  });
};
