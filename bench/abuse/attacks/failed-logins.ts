import { SignJWT } from 'jose';
import { AttackTally } from '../../../test/support/attack-client';
import { Attack, lanes, resultOf } from './context';
import { describeGuesses, guessFailures, guessUntilClosed } from './login-guesser';

const ADDRESSES = 4;
const CONNECTIONS_PER_ADDRESS = 4;
const FORGED_SECRET = new TextEncoder().encode('not-the-gateway-secret-but-just-as-long');

/**
 * Token guessing: from each of 4 addresses, 4 connections send LOGINs with forged
 * tokens one after another and reconnect when closed. auth.maxFailedLogins failures
 * from an address ban it: ERROR ip-banned, its other not-logged-in connections closed,
 * and its connects refused at accept for auth.failedLoginBanMs.
 */
export const failedLogins: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const guesses = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`victim-${i}`)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(FORGED_SECRET),
    ),
  );
  let n = 0;
  const guess = () => guesses[n++ % guesses.length];
  const perAddress = Array.from({ length: ADDRESSES }, () => new AttackTally());
  await Promise.all(
    perAddress.map((tally, a) =>
      lanes(CONNECTIONS_PER_ADDRESS, stopAt, () =>
        guessUntilClosed(ctx, ctx.address(1 + a), guess, tally, stopAt),
      ),
    ),
  );
  const all = new AttackTally();
  const notes: string[] = [];
  const failures: string[] = [];
  const { maxFailedLogins } = ctx.limits;
  perAddress.forEach((tally, a) => {
    all.merge(tally);
    notes.push(`${ctx.address(1 + a)}: ${describeGuesses(tally)}`);
    failures.push(...guessFailures(ctx.address(1 + a), tally, true));
    // LOGINs already being verified when the ban lands are answered invalid-token too.
    const wrong = tally.errors['invalid-token'] ?? 0;
    if (wrong > maxFailedLogins - 1 + CONNECTIONS_PER_ADDRESS) {
      failures.push(
        `${ctx.address(1 + a)}: ${wrong} guesses verified (maxFailedLogins ${maxFailedLogins}): the ban did not stop the guessing`,
      );
    }
  });
  const banned = perAddress.filter((t) => t.errors['ip-banned']).length;
  const refused = all.outcomes['refused at accept'] ?? 0;
  return resultOf(ctx.phase, all, {
    stoppedBy: `${banned}/${ADDRESSES} addresses banned after ${maxFailedLogins} failures (ERROR ip-banned ×${all.errors['ip-banned'] ?? 0}); then ${refused.toLocaleString('en-US')} connects refused at accept; ${all.errors['invalid-token'] ?? 0} guesses verified in all`,
    notes,
    failures,
  });
};
