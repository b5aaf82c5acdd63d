import { Op, REPLY_FLAG } from '../../../src/transport/ops';
import { AttackClient, AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { Attack, AttackContext, lanes, resultOf } from './context';

const LANES = 16;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

/** Connects from `localAddress` and sends a HEARTBEAT: the client when answered (admitted), else undefined. */
async function admitted(
  ctx: AttackContext,
  localAddress: string,
  tally: AttackTally,
): Promise<AttackClient | undefined> {
  const client = await tally.open({ port: ctx.port, localAddress });
  if (!client) return undefined;
  const answer = await client.request(Op.HEARTBEAT, undefined, 3000);
  if (answer?.op === HEARTBEAT_REPLY) return client;
  client.destroy();
  tally.add(client);
  return undefined;
}

/**
 * A connection flood from one IP: lanes connect as fast as they can and hold every
 * connection the gateway admits (never logging in). server.maxConnectsPerIpPerWindow
 * refuses connects past the rate at accept, before a byte is read;
 * server.maxConnectionsPerIp caps what one IP holds. Meanwhile a connect from another
 * address must still be admitted.
 */
export const connectionFlood: Attack = async (ctx) => {
  const started = Date.now();
  const stopAt = started + ctx.seconds * 1000;
  const from = ctx.address(1);
  const tally = new AttackTally();
  const held: AttackClient[] = [];
  let maxHeld = 0;
  const failures: string[] = [];
  const notes: string[] = [];

  const otherIp = (async () => {
    await sleep((ctx.seconds * 1000) / 2);
    const other = await admitted(ctx, ctx.address(200), new AttackTally());
    if (other) {
      notes.push(`a connect from another address (${ctx.address(200)}) mid-flood: admitted`);
      other.destroy();
    } else {
      failures.push(`a connect from another address (${ctx.address(200)}) mid-flood was refused`);
    }
  })();

  await lanes(LANES, stopAt, async () => {
    const client = await admitted(ctx, from, tally);
    if (client) {
      held.push(client);
      maxHeld = Math.max(maxHeld, held.filter((c) => !c.closed).length);
    }
  });
  await otherIp;
  const elapsedMs = Date.now() - started;
  const admittedCount = held.length;
  for (const c of held) {
    c.destroy();
    tally.add(c);
  }

  const { maxConnectsPerIpPerWindow: perWindow, connectRateWindowMs: windowMs } = ctx.limits;
  // Fixed windows: a run of `elapsed` ms overlaps at most ceil(elapsed / window) + 1 of them.
  const windows = Math.ceil(elapsedMs / windowMs) + 1;
  if (admittedCount > perWindow * windows) {
    failures.push(
      `${admittedCount} connects admitted in ${elapsedMs} ms: more than ${perWindow} per ${windowMs} ms window`,
    );
  }
  if (maxHeld > ctx.limits.maxConnectionsPerIp) {
    failures.push(`held ${maxHeld} connections from one IP > maxConnectionsPerIp`);
  }
  const refused = tally.outcomes['refused at accept'] ?? 0;
  return resultOf(ctx.phase, tally, {
    stoppedBy: `${refused.toLocaleString('en-US')} connects refused at accept; ${admittedCount} admitted (≤ ${perWindow} per ${windowMs} ms window)`,
    notes: [
      `${LANES} lanes from ${from}; at most ${maxHeld} connections held at once` +
        (maxHeld < ctx.limits.maxConnectionsPerIp
          ? ` (maxConnectionsPerIp ${ctx.limits.maxConnectionsPerIp} not reached: the connect-rate cap admits ${perWindow} per ${windowMs} ms, and never-login connections are closed after loginTimeoutMs ${ctx.limits.loginTimeoutMs})`
          : ` (the maxConnectionsPerIp cap, ${ctx.limits.maxConnectionsPerIp})`),
      ...notes,
    ],
    failures,
  });
};
