import { SignJWT } from 'jose';
import { Op, REPLY_FLAG } from '../../../src/transport/ops';
import { AttackClient, AttackTally } from '../../../test/support/attack-client';
import { Endpoint, proxyV1, proxyV2 } from '../../../test/support/proxy-header';
import { sleep } from '../../../test/support/wait';
import { Attack, AttackContext, lanes, resultOf } from './context';
import { describeGuesses, guessFailures, guessUntilClosed } from './login-guesser';

const CONNECTIONS_PER_GUESSER = 2;
const HONEST_CLIENTS = 4;
const HEARTBEAT_EVERY_MS = 100;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const FORGED_SECRET = new TextEncoder().encode('not-the-gateway-secret-but-just-as-long');

/** A client behind the balancer: the address its PROXY headers name, and their version. */
interface Behind {
  address: string;
  version: 1 | 2;
}

let sourcePort = 20000;
/** The header the balancer writes for a new connection of `who` (a fresh source port each). */
function headerFor(who: Behind): Buffer {
  sourcePort = sourcePort >= 65000 ? 20000 : sourcePort + 1;
  const client: Endpoint = { address: who.address, port: sourcePort };
  return who.version === 2 ? proxyV2(client) : proxyV1(client);
}

/**
 * Token guessing behind a load balancer. The gateway runs with server.proxyProtocol `auto` and
 * trusts this phase's balancer, 127.0.<block>.1 (trustedProxyAddresses), alone; every
 * connection of the phase comes from that address, its PROXY header naming the client behind
 * it (documentation addresses, which appear only inside headers). Two guessers (IPv4 over v2,
 * IPv6 over v1), 2 connections each, send forged tokens and reconnect when closed, as in
 * failed-logins; 4 honest clients of the same balancer stay logged in, heartbeating, and log in
 * again on fresh connections once the guessers are banned. The guessers' addresses must be
 * banned and nothing else: not the balancer's address (which would cut every client behind it),
 * not its other clients, not the measured bystanders (direct, on 127.0.0.1).
 */
export const proxiedGuesser: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const balancer = ctx.address(1);
  const a = ctx.attempt;
  const guessers: Behind[] = [
    { address: `198.51.100.${10 + a}`, version: 2 },
    { address: `2001:db8::${(0x10 + a).toString(16)}`, version: 1 },
  ];
  const honest: Behind[] = Array.from({ length: HONEST_CLIENTS }, (_, i) =>
    i % 2 === 0
      ? { address: `198.51.100.${100 + 10 * a + i}`, version: 2 }
      : { address: `2001:db8::${(0x100 + 16 * a + i).toString(16)}`, version: 1 },
  );
  const guesses = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`proxied-victim-${i}`)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(FORGED_SECRET),
    ),
  );
  let n = 0;
  const guess = () => guesses[n++ % guesses.length];
  const tallies = guessers.map(() => new AttackTally());
  const problems: string[] = [];
  const [, beats] = await Promise.all([
    Promise.all(
      guessers.map((who, g) =>
        lanes(CONNECTIONS_PER_GUESSER, stopAt, () =>
          guessUntilClosed(ctx, balancer, guess, tallies[g], stopAt, headerFor(who)),
        ),
      ),
    ),
    Promise.all(
      honest.map((who, i) =>
        honestClient(ctx, balancer, who, `proxied-honest-${a}-${i}`, stopAt, problems),
      ),
    ),
  ]);
  const all = new AttackTally();
  const notes: string[] = [];
  const failures: string[] = [...problems];
  const { maxFailedLogins } = ctx.limits;
  guessers.forEach((who, g) => {
    const tally = tallies[g];
    const what = `${who.address} (PROXY v${who.version} via ${balancer})`;
    all.merge(tally);
    notes.push(`${what}: ${describeGuesses(tally)}`);
    failures.push(...guessFailures(what, tally, true));
    // LOGINs already being verified when the ban lands are answered invalid-token too.
    const wrong = tally.errors['invalid-token'] ?? 0;
    if (wrong > maxFailedLogins - 1 + CONNECTIONS_PER_GUESSER) {
      failures.push(`${what}: ${wrong} guesses verified (maxFailedLogins ${maxFailedLogins})`);
    }
  });
  const served = beats.reduce((x, y) => x + y, 0);
  notes.push(
    `honest clients behind ${balancer} (${honest.map((h) => h.address).join(', ')}): ${served} heartbeats answered, ${problems.length} problems`,
  );
  const banned = tallies.filter((t) => t.errors['ip-banned']).length;
  const refused = all.outcomes['refused at accept'] ?? 0;
  return resultOf(ctx.phase, all, {
    stoppedBy: `${banned}/${guessers.length} guessers' own addresses banned after ${maxFailedLogins} failures (ERROR ip-banned ×${all.errors['ip-banned'] ?? 0}), then ${refused.toLocaleString('en-US')} of their connects refused after the header; the balancer and its ${HONEST_CLIENTS} honest clients ${problems.length === 0 ? 'unaffected' : 'AFFECTED'}`,
    notes,
    failures,
  });
};

/**
 * An honest client of the same balancer: logs in, heartbeats until `stopAt` (every answer must
 * come), then logs in again on a fresh connection (the guessers are banned by then, so this
 * shows the ban did not land on the balancer). Returns the heartbeats answered; what went wrong
 * goes to `problems`.
 */
async function honestClient(
  ctx: AttackContext,
  balancer: string,
  who: Behind,
  uid: string,
  stopAt: number,
  problems: string[],
): Promise<number> {
  const connect = async (as: string): Promise<AttackClient | undefined> => {
    let c: AttackClient;
    try {
      c = await AttackClient.open({ port: ctx.port, localAddress: balancer });
    } catch (err) {
      problems.push(`${who.address}: could not connect (${(err as Error).message})`);
      return undefined;
    }
    c.write(headerFor(who));
    const answer = await c.login(await ctx.token(as));
    if (c.loggedIn) return c;
    problems.push(
      `${who.address}: LOGIN as ${as} answered ${answer?.code ?? `nothing (${c.outcome})`}`,
    );
    c.destroy();
    return undefined;
  };
  const c = await connect(uid);
  if (!c) return 0;
  let beats = 0;
  while (Date.now() < stopAt && !c.closed) {
    const answer = await c.request(Op.HEARTBEAT, undefined, 2000);
    if (answer?.op !== HEARTBEAT_REPLY) {
      problems.push(`${who.address}: HEARTBEAT answered ${answer?.code ?? 'nothing'}`);
      break;
    }
    beats++;
    await sleep(HEARTBEAT_EVERY_MS);
  }
  if (c.closed) problems.push(`${who.address}: connection closed (${c.outcome})`);
  const again = await connect(`${uid}-again`);
  again?.destroy();
  c.destroy();
  return beats;
}
