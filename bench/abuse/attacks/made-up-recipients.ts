import { MsgOp } from '../../../src/messaging/messaging.ops';
import { encodeJsonFrame } from '../../../src/transport/frame.codec';
import { AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { Attack, resultOf, unexpectedOutcomes } from './context';

/** SENDs per second per connection: just under rateLimit.maxPackets, so the frame window never refuses them. */
const SENDS_PER_SECOND = 190;
/** How long each connection sprays before the sprayer reconnects (for a fresh per-connection budget). */
const LIFE_MS = 2000;
/** Source addresses it rotates through, so no per-IP limit is what holds it. */
const ADDRESSES = 8;
const TICK_MS = 10;

/**
 * One account spraying SENDs at made-up users (every message stored, waiting for
 * a user who never comes), within every per-connection and per-IP limit: under
 * the frame window, reconnecting every 2 s from another address for fresh
 * per-connection budgets. Only a per-user limit can hold it: the abuse config's
 * `send-per-user` token bucket (limits.rules). The phase passes when the SENDs
 * served stay within that bucket (burst + rate × time, 10% slack) and the rest
 * got ERROR rate-limited.
 */
export const madeUpRecipients: Attack = async (ctx) => {
  const rule = ctx.limits.sendPerUser;
  const tally = new AttackTally();
  if (rule === null) {
    return resultOf(ctx.phase, tally, {
      failures: ['the gateway has no send-per-user rule (limits.rules): nothing per user to test'],
    });
  }
  const uid = `sprayer-${ctx.attempt}`;
  const started = Date.now();
  const stopAt = started + ctx.seconds * 1000;
  let sent = 0;
  let served = 0;
  for (let life = 0; Date.now() < stopAt; life++) {
    const client = await tally.open({
      port: ctx.port,
      localAddress: ctx.address(1 + (life % ADDRESSES)),
    });
    if (!client) break;
    const login = await client.login(await ctx.token(uid));
    if (!client.loggedIn) {
      tally.add(client);
      client.destroy();
      if (login === undefined) break;
      continue;
    }
    const lifeEnds = Math.min(stopAt, Date.now() + LIFE_MS);
    const lifeStart = Date.now();
    let due = 0;
    let seq = 2;
    while (Date.now() < lifeEnds && !client.closed) {
      const target = Math.floor(((Date.now() - lifeStart) * SENDS_PER_SECOND) / 1000);
      const frames: Buffer[] = [];
      for (; due < target; due++) {
        const to = `made-up-${ctx.attempt}-${Math.floor(Math.random() * 1e9)}`;
        frames.push(
          encodeJsonFrame(MsgOp.SEND, seq++, {
            to,
            clientMsgId: `s${life}-${due}`,
            content: 'x'.repeat(200),
          }),
        );
      }
      if (frames.length > 0) client.write(Buffer.concat(frames));
      sent += frames.length;
      await sleep(TICK_MS);
    }
    await sleep(100); // the last answers
    served += client.replies - 1; // but the LOGIN's
    client.destroy();
    tally.add(client);
  }
  const seconds = (Date.now() - started) / 1000;
  const allowed = Math.ceil((rule.burst + rule.ratePerSecond * seconds) * 1.1);
  const failures = unexpectedOutcomes(tally, ['closed by attacker'], 'sprayer connections');
  if (served > allowed) {
    failures.push(
      `${served} SENDs served in ${seconds.toFixed(1)} s; the send-per-user bucket allows about ${allowed}`,
    );
  }
  if ((tally.errors['rate-limited'] ?? 0) === 0) failures.push('no SEND was refused rate-limited');
  return resultOf(ctx.phase, tally, {
    stoppedBy: `limits.rules send-per-user (${rule.ratePerSecond}/s, burst ${rule.burst}): ${served.toLocaleString('en-US')} of ${sent.toLocaleString('en-US')} SENDs served, the rest ERROR rate-limited`,
    notes: [
      `one account, ${tally.connects} connections in sequence from ${ADDRESSES} addresses, ${SENDS_PER_SECOND} SENDs/s each to made-up users (under the frame window)`,
    ],
    failures,
  });
};
