import { MsgOp } from '../../../src/messaging/messaging.ops';
import { encodeFrame, encodeJsonFrame } from '../../../src/transport/frame.codec';
import { Op } from '../../../src/transport/ops';
import { AttackClient, AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { Attack, lanes, resultOf, unexpectedOutcomes } from './context';

const SEND_LANES = 4;
const HEARTBEAT_LANES = 4;
/** Frames per write: enough to cross kickPackets (400) in one read or two. */
const CHUNK_FRAMES = 600;
const MAX_CHUNKS = 4;
/**
 * A refused reconnect waits this long: the flooder reconnects as fast as the
 * connect-rate cap admits, without spinning on refused connects (the
 * connection-flood phase measures those), so this phase measures the packet rate limit.
 */
const REFUSED_BACKOFF_MS = 50;

/**
 * A PDU flood from one IP: lanes that log in (each its own account) and write SENDs
 * far past rateLimit.kickPackets, and lanes that never log in and write HEARTBEATs,
 * each reconnecting at once when kicked (backing off only when refused). The packet rate limit answers frames past
 * maxPackets with ERROR rate-limited and kicks past kickPackets; the connect-rate cap
 * refuses the reconnects past maxConnectsPerIpPerWindow.
 */
export const pduFlood: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const tally = new AttackTally();
  const from = ctx.address(1);
  const heartbeats = Buffer.concat(
    Array.from({ length: CHUNK_FRAMES }, (_, i) => encodeFrame(Op.HEARTBEAT, i + 1)),
  );
  let overServed = 0;

  const flood = async (client: AttackClient, chunk: () => Buffer) => {
    for (let i = 0; i < MAX_CHUNKS && !client.closed; i++) {
      client.write(chunk());
      await client.drained();
    }
    await Promise.race([client.done, sleep(3000)]);
    client.destroy();
  };

  await Promise.all([
    lanes(SEND_LANES, stopAt, async (k, life) => {
      const client = await tally.open({ port: ctx.port, localAddress: from });
      if (!client) return;
      await client.login(await ctx.token(`flooder-${k}`));
      if (client.loggedIn) {
        let n = 0;
        const sends = () =>
          Buffer.concat(
            Array.from({ length: CHUNK_FRAMES }, () =>
              encodeJsonFrame(MsgOp.SEND, 10 + n, {
                to: 'flood-sink',
                clientMsgId: `f${ctx.attempt}-${k}-${life}-${n++}`,
                content: n,
              }),
            ),
          );
        await flood(client, sends);
        // Replies beyond the allowance of one window (plus the LOGIN) mean the limit did not hold.
        if (client.replies > ctx.limits.maxPackets + 1) overServed++;
      } else {
        await Promise.race([client.done, sleep(1000)]);
        client.destroy();
      }
      tally.add(client);
      if (client.outcome === 'refused at accept') await sleep(REFUSED_BACKOFF_MS);
    }),
    lanes(HEARTBEAT_LANES, stopAt, async () => {
      const client = await tally.open({ port: ctx.port, localAddress: from });
      if (!client) return;
      await flood(client, () => heartbeats);
      if (client.replies > ctx.limits.maxPackets) overServed++;
      tally.add(client);
      if (client.outcome === 'refused at accept') await sleep(REFUSED_BACKOFF_MS);
    }),
  ]);

  const failures = unexpectedOutcomes(
    tally,
    ['KICK rate-limited', 'refused at accept'],
    'flooding connections that were not kicked',
  );
  if (overServed > 0) {
    failures.push(
      `${overServed} flooding connections got more than maxPackets (${ctx.limits.maxPackets}) replies`,
    );
  }
  return resultOf(ctx.phase, tally, {
    notes: [
      `${SEND_LANES} SEND lanes (logged in) + ${HEARTBEAT_LANES} HEARTBEAT lanes from ${from}, ${CHUNK_FRAMES}-frame writes`,
      `${tally.replies.toLocaleString('en-US')} requests served in all (most by one connection: ${tally.maxReplies}); ${tally.logins} flooder logins`,
    ],
    failures,
  });
};
