import { AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { AttackContext, describeCounts } from './context';

/**
 * One life of a login guesser: connects from `from` and sends LOGIN with `token()`,
 * one after another, until the gateway closes the connection (a ban) or `stopAt`;
 * then tallies it. A refused connect is followed by a short pause, so the lane
 * measures the ban rather than spinning on connects (the connection-flood phase
 * does that). `header` (a PROXY header) is written first: the guesser behind a balancer.
 */
export async function guessUntilClosed(
  ctx: AttackContext,
  from: string,
  token: () => string,
  tally: AttackTally,
  stopAt: number,
  header?: Buffer,
): Promise<void> {
  const client = await tally.open({ port: ctx.port, localAddress: from });
  if (!client) return;
  if (header) client.write(header);
  while (!client.closed && !client.loggedIn && Date.now() < stopAt) {
    if ((await client.login(token(), 3000)) === undefined) break;
  }
  if (!client.closed) await Promise.race([client.done, sleep(100)]);
  client.destroy();
  tally.add(client);
  if (client.outcome === 'refused at accept') await sleep(10);
}

/** `invalid-token ×4, ip-banned ×1; refused at accept ×310`: what one address got. */
export function describeGuesses(tally: AttackTally): string {
  const outcomes = { ...tally.outcomes };
  delete outcomes['closed by attacker'];
  return [describeCounts(tally.errors), describeCounts(outcomes)]
    .filter((s) => s.length > 0)
    .join('; ');
}

/** Failures of a guessing address: a login accepted, or no ban within the phase. */
export function guessFailures(what: string, tally: AttackTally, expectBan: boolean): string[] {
  const failures: string[] = [];
  if (tally.logins > 0) failures.push(`${what}: ${tally.logins} LOGINs with it were ACCEPTED`);
  if (expectBan && !tally.errors['ip-banned']) {
    failures.push(`${what}: the address was never banned (${describeGuesses(tally)})`);
  }
  return failures;
}
