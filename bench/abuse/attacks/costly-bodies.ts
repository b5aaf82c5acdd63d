import { MsgOp } from '../../../src/messaging/messaging.ops';
import { HEADER_BYTES, encodeFrame } from '../../../src/transport/frame.codec';
import { Op } from '../../../src/transport/ops';
import { AttackClient, AttackTally } from '../../../test/support/attack-client';
import { sleep } from '../../../test/support/wait';
import { GatewayLimits } from '../phases';
import { Attack, lanes, resultOf } from './context';

/** Connections of the one attacking host before login: well under maxConnectionsPerIp and the connect rate. */
const PRE_LOGIN_CONNECTIONS = 60;
/** Frames per second per connection: just under rateLimit.maxPackets, so nothing is refused for rate. */
const headroom = (limits: GatewayLimits) => Math.floor(limits.maxPackets * 0.95);

/**
 * The costliest JSON that fits `bytes` and `items`: `extra` plus an object of
 * many short keys as `content` (each key makes the parser, and everything after
 * it, do work). Items as server.maxJsonItems counts them: commas plus objects.
 */
export function costlyJson(
  bytes: number,
  items: number,
  extra: Record<string, unknown> = {},
): string {
  // Two objects and extra's keys + content's keys - 1 commas.
  let keys = items - Object.keys(extra).length - 1;
  for (;;) {
    const content: Record<string, number> = {};
    for (let i = 0; i < keys; i++) content[`k${i}`] = i;
    const text = JSON.stringify({ ...extra, content });
    if (text.length <= bytes || keys === 0) return text;
    keys = Math.max(0, Math.floor((keys * bytes) / text.length) - 1);
  }
}

/** Writes `next()` at `perSecond` until `stopAt`, waiting whenever the socket pushes back. */
async function paced(
  client: AttackClient,
  stopAt: number,
  perSecond: number,
  next: () => Buffer,
): Promise<number> {
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() < stopAt && !client.closed) {
    const due = Math.floor(((Date.now() - t0) / 1000) * perSecond);
    while (sent < due && !client.closed) {
      sent++;
      if (!client.write(next())) await client.drained();
    }
    await sleep(5);
  }
  return sent;
}

/**
 * Before login, from one host: many connections sending the costliest bodies
 * that fit server.maxPreLoginFrameBytes and server.maxJsonItems, as HEARTBEATs
 * (public: the body is parsed) and as SENDs (not public: never parsed), each
 * connection just under the frame rate. What limits it is the read budget
 * (rateLimit.maxPreLoginBytes, maxPreLoginIpBytes); the phase fails when the
 * gateway spends more than the CPU bound on it (see report.ts).
 */
export const costlyBeforeLogin: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const tally = new AttackTally();
  const from = ctx.address(1);
  const { maxPreLoginFrameBytes, maxJsonItems } = ctx.limits;
  const body = costlyJson(maxPreLoginFrameBytes - HEADER_BYTES, maxJsonItems);
  const frames = [encodeFrame(Op.HEARTBEAT, 1, body), encodeFrame(MsgOp.SEND, 2, body)];
  let written = 0;
  await lanes(PRE_LOGIN_CONNECTIONS, stopAt, async (k) => {
    const client = await tally.open({ port: ctx.port, localAddress: from });
    if (!client) return;
    // Until the login timeout closes it, or the phase ends.
    written += await paced(client, stopAt, headroom(ctx.limits), () => frames[k % 2]);
    client.destroy();
    tally.add(client);
  });
  return resultOf(ctx.phase, tally, {
    notes: [
      `${PRE_LOGIN_CONNECTIONS} connections from ${from}, never logged in: HEARTBEATs and SENDs of ${frames[0].length} bytes (${maxJsonItems} keys at most), ${headroom(ctx.limits)} a second each; ${written.toLocaleString('en-US')} frames written`,
    ],
    failures: [],
  });
};

/**
 * One logged-in client within every limit, alternating the costliest requests
 * it may make: SENDs whose content is as many keys as maxJsonItems allows, to
 * made-up users; SYNC {lastSeq: 0} on an inbox it never acknowledges; PUSH_ACKs
 * of 1,024 seqs. Limited by the read budget (rateLimit.maxBytes) and the frame
 * rate; the phase fails when the gateway spends more than the CPU bound on it.
 */
export const costlyLoggedIn: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const tally = new AttackTally();
  const { maxFrameBytes, maxJsonItems } = ctx.limits;
  const uid = `costly-${ctx.attempt}`;
  // An inbox to SYNC over: a window's worth of messages from an accomplice.
  const filler = await AttackClient.open({ port: ctx.port, localAddress: ctx.address(2) });
  await filler.login(await ctx.token(`${uid}-filler`));
  for (let i = 0; i < ctx.limits.pushWindow; i++) {
    await filler.request(MsgOp.SEND, { to: uid, clientMsgId: `fill-${i}`, content: i });
  }
  filler.destroy();
  const client = await AttackClient.open({ port: ctx.port, localAddress: ctx.address(1) });
  await client.login(await ctx.token(uid));
  const sync = encodeFrame(MsgOp.SYNC, 3, JSON.stringify({ lastSeq: 0 }));
  const seqs = Array.from({ length: 1024 }, (_, i) => i + 1);
  const pushAck = encodeFrame(MsgOp.PUSH_ACK, 4, JSON.stringify({ seqs }));
  // Built once: a per-frame build would cost the attacker more than the gateway.
  const template = costlyJson(maxFrameBytes - HEADER_BYTES - 40, maxJsonItems, {
    to: 'TO',
    clientMsgId: 'ID',
  });
  let n = 0;
  const next = () => {
    const k = n++;
    if (k % 3 === 1) return sync;
    if (k % 3 === 2) return pushAck;
    const body = template.replace('"TO"', `"made-up-${k}"`).replace('"ID"', `"${uid}-${k}"`);
    return encodeFrame(MsgOp.SEND, 5, body);
  };
  const sent = await paced(client, stopAt, headroom(ctx.limits), next);
  const failures = client.closed ? [`the client was closed (${client.outcome})`] : [];
  client.destroy();
  tally.add(client);
  return resultOf(ctx.phase, tally, {
    notes: [
      `one logged-in client: SENDs of up to ${maxFrameBytes} bytes and ${maxJsonItems} keys, SYNC {lastSeq: 0}, PUSH_ACKs of 1,024 seqs, in turn, ${headroom(ctx.limits)} frames a second; ${sent.toLocaleString('en-US')} written`,
    ],
    // Within its limits it is served, slowly: nothing refuses it.
    failures,
  });
};
