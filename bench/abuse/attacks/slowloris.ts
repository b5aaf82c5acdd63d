import { encodeFrame, encodeJsonFrame } from '../../../src/transport/frame.codec';
import { Op } from '../../../src/transport/ops';
import { AttackClient, AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import {
  Attack,
  AttackContext,
  describeCounts,
  resultOf,
  secondsSpan,
  unexpectedOutcomes,
} from './context';

const DRIBBLE_EVERY_MS = 1000;
/** Addresses opened at once: 3 × 90 connections, under the listen backlog. */
const BATCH_ADDRESSES = 3;
/** The gateway destroys a kicked socket this long after the KICK (docs/PROTOCOL.md §4.4). */
const CLOSE_GRACE_MS = 1000;
/** Scheduling slack on a shared machine. */
const SLACK_MS = 3000;

/** Waits until every client is closed or `deadline`. */
async function allClosed(clients: AttackClient[], deadline: number): Promise<void> {
  while (Date.now() < deadline && clients.some((c) => !c.closed)) await sleep(50);
}

/** Opens `count` connections from `localAddress`; failures are tallied. */
async function openMany(
  ctx: AttackContext,
  localAddress: string,
  count: number,
  tally: AttackTally,
): Promise<AttackClient[]> {
  const opened = await Promise.all(
    Array.from({ length: count }, () =>
      AttackClient.open({ port: ctx.port, localAddress, timeoutMs: 10_000 }).catch((err) => {
        tally.connectError(err);
        return undefined;
      }),
    ),
  );
  return opened.filter((c): c is AttackClient => c !== undefined);
}

/**
 * Slowloris: `slowConnections` connections that never log in, spread over as many
 * IPs as the connect-rate cap needs to admit them all at once (an attacker with
 * addresses to spare), a third silent, a third sending whole HEARTBEATs (which do not
 * extend the login deadline), a third dribbling a LOGIN one byte a second: all must
 * be kicked login-timeout at server.loginTimeoutMs. The phase lasts until they are.
 * Also 20 logged-in clients that dribble a 60 KB frame one byte a second, never
 * completing it: heartbeat.timeoutMs (90 s by default) closes them, which outlasts
 * the phase, so they stay open and are checked at the end of the run.
 */
export const slowloris: Attack = async (ctx) => {
  const started = Date.now();
  const tally = new AttackTally();
  const perIp = Math.max(1, ctx.limits.maxConnectsPerIpPerWindow - 10);
  const ips = Math.ceil(ctx.slowConnections / perIp);
  const login = encodeJsonFrame(Op.LOGIN, 1, { token: await ctx.token('never-completes') });
  const heartbeat = encodeFrame(Op.HEARTBEAT, 7);

  // A few addresses at a time: all at once would overflow the listen backlog (Node's
  // default, 511), and the kernel, not the gateway, would hold the rest unaccepted.
  const slow: AttackClient[] = [];
  for (let ip = 0; ip < ips; ip += BATCH_ADDRESSES) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH_ADDRESSES, ips - ip) }, (_, b) =>
        openMany(
          ctx,
          ctx.address(1 + ip + b),
          Math.min(perIp, ctx.slowConnections - (ip + b) * perIp),
          tally,
        ),
      ),
    );
    slow.push(...batch.flat());
  }
  const lastOpened = Date.now();
  slow.forEach((c, i) => {
    if (i % 3 === 1) c.repeat(heartbeat, DRIBBLE_EVERY_MS);
    if (i % 3 === 2) c.dribble(login, DRIBBLE_EVERY_MS);
  });
  const dribblers = await loggedInDribblers(ctx);

  const { loginTimeoutMs, heartbeatSweepMs } = ctx.limits;
  const deadline = lastOpened + loginTimeoutMs + heartbeatSweepMs + CLOSE_GRACE_MS + SLACK_MS;
  await allClosed(slow, deadline);
  const remaining = started + ctx.seconds * 1000 - Date.now();
  if (remaining > 0) await sleep(remaining);
  const byKind = ['silent', 'whole HEARTBEATs', 'LOGIN byte by byte'].map((kind, k) => {
    const tallied = new AttackTally();
    slow.forEach((c, i) => i % 3 === k && tallied.add(c));
    return `${kind}: ${describeCounts(tallied.outcomes)}`;
  });
  const early = slow.filter((c) => c.closed && c.closedAt! - c.openedAt < loginTimeoutMs).length;
  const closedAfter = slow.filter((c) => c.closed).map((c) => c.closedAt! - c.openedAt);
  for (const c of slow) {
    tally.add(c);
    c.destroy();
  }
  const failures = unexpectedOutcomes(
    tally,
    ['KICK login-timeout'],
    `never-login connections, ${Math.round((deadline - lastOpened) / 1000)} s after the last was opened`,
  );
  if (early > 0) failures.push(`${early} were closed before loginTimeoutMs (${loginTimeoutMs})`);
  if (dribblers.clients.length > 0) ctx.defer(() => checkDribblers(ctx, dribblers));
  return resultOf(ctx.phase, tally, {
    notes: [
      `${slow.length} never-login connections from ${ips} addresses (${ctx.address(1)}…), opened in ${lastOpened - started} ms; closed ${secondsSpan(closedAfter)} after opening`,
      ...byKind,
      `${dribblers.clients.length} logged-in dribblers left open (heartbeat.timeoutMs ${ctx.limits.heartbeatTimeoutMs} ms): checked at the end of the run`,
    ],
    failures,
  });
};

interface Dribblers {
  clients: AttackClient[];
  loggedInAt: number;
  tally: AttackTally;
}

/** Logged-in clients writing a 60 KB HEARTBEAT one byte a second: never a whole frame. */
async function loggedInDribblers(ctx: AttackContext): Promise<Dribblers> {
  const tally = new AttackTally();
  const from = ctx.address(250);
  const clients = await openMany(ctx, from, ctx.dribblers, tally);
  await Promise.all(
    clients.map(async (c, i) => c.login(await ctx.token(`dribbler-${ctx.attempt}-${i}`))),
  );
  const frame = encodeFrame(Op.HEARTBEAT, 9, `{"pad":"${'p'.repeat(60_000)}"}`);
  for (const c of clients) c.dribble(frame, DRIBBLE_EVERY_MS);
  return { clients, loggedInAt: Date.now(), tally };
}

async function checkDribblers(ctx: AttackContext, d: Dribblers) {
  const { heartbeatTimeoutMs, heartbeatSweepMs } = ctx.limits;
  const deadline = d.loggedInAt + heartbeatTimeoutMs + heartbeatSweepMs + CLOSE_GRACE_MS + SLACK_MS;
  await allClosed(d.clients, deadline);
  const notLoggedIn = d.clients.filter((c) => !c.loggedIn).length;
  const lived = d.clients.filter((c) => c.closed).map((c) => c.closedAt! - d.loggedInAt);
  for (const c of d.clients) {
    d.tally.add(c);
    c.destroy();
  }
  const failures = unexpectedOutcomes(
    d.tally,
    ['KICK heartbeat-timeout'],
    'logged-in one-byte-a-second dribblers',
  );
  if (notLoggedIn > 0) failures.push(`${notLoggedIn} dribblers could not log in`);
  return resultOf(ctx.phase, d.tally, {
    label: 'slowloris: logged-in dribblers (checked at the end)',
    stoppedBy: describeCounts(d.tally.outcomes),
    notes: [
      `${d.clients.length} logged-in clients from ${ctx.address(250)}, one byte a second of a 60 KB frame; closed ${secondsSpan(lived)} after login`,
    ],
    failures,
  });
}
