import { Op, REPLY_FLAG } from '../../../src/transport/ops';
import { AttackTally } from '../../../test/support/attack-client';
import { InboxState, MessagingClient, SendAckBody } from '../../../test/support/messaging-client';
import { TestClient } from '../../../test/support/test-client';
import { sleep } from '../../../test/support/wait';
import { Attack, AttackContext, resultOf } from './context';

const CONTENT_BYTES = 60_000;
const SENDS_PER_SECOND = 50;
/** Pipelined by the sloth without reading the replies: under the packet rate limit. */
const HEARTBEATS_PER_SECOND = 150;

async function loggedIn(
  ctx: AttackContext,
  uid: string,
  host: number,
  options: ConstructorParameters<typeof MessagingClient>[1] = {},
  lastSeq?: number,
): Promise<MessagingClient> {
  const client = new MessagingClient(
    await TestClient.connect(ctx.port, '127.0.0.1', ctx.address(host)),
    options,
  );
  const reply = await client.login(await ctx.token(uid), lastSeq);
  if (reply.op !== (Op.LOGIN | REPLY_FLAG) >>> 0) {
    throw new Error(`${uid} could not log in: ${JSON.stringify(reply.body)}`);
  }
  return client;
}

/**
 * A client that never reads: `sloth` logs in and stops reading, while another
 * account sends it 60 KB messages (under the rate limit) and the sloth pipelines
 * HEARTBEATs whose replies it never reads. Inbox pushes pause while over half of
 * server.maxWriteBufferBytes is unsent; past the whole cap (retransmits after
 * messaging.ackTimeoutMs ignore the pause) the gateway drops it without a PDU. The
 * phase then logs the sloth in again, saying what it holds, and checks that every
 * message acknowledged to the sender arrives, once and in order.
 */
export const neverReads: Attack = async (ctx) => {
  const started = Date.now();
  const tally = new AttackTally();
  const failures: string[] = [];
  const notes: string[] = [];
  const state = new InboxState();
  // Its own account per attempt: a rerun must not find the last one's inbox.
  const slothUid = `sloth-${ctx.attempt}`;
  const sloth = await loggedIn(ctx, slothUid, 1, { state, autoAck: false });
  sloth.conn.socket.pause();
  const feeder = await loggedIn(ctx, `sloth-feeder-${ctx.attempt}`, 2);

  const acks: SendAckBody[] = [];
  const sendErrors: string[] = [];
  const pending: Promise<void>[] = [];
  const padding = 'c'.repeat(CONTENT_BYTES);
  let sent = 0;
  const feedUntil = started + ctx.seconds * 1000;
  // Retransmits come ackTimeoutMs after a push: stay at least that long, plus slack.
  const deadline = Math.max(feedUntil, started + ctx.limits.ackTimeoutMs + 3000);
  while (Date.now() < deadline && !sloth.conn.isClosed) {
    if (Date.now() < feedUntil) {
      const i = sent++;
      pending.push(
        feeder.send(slothUid, `${i}:${padding}`).then(
          (ack) => void (acks[i] = ack),
          (err: Error) => void sendErrors.push(err.message),
        ),
      );
    }
    for (let h = 0; h < HEARTBEATS_PER_SECOND / SENDS_PER_SECOND; h++)
      sloth.conn.send(Op.HEARTBEAT);
    await sleep(1000 / SENDS_PER_SECOND);
  }
  await Promise.all(pending);
  const droppedWhilePaused = sloth.conn.isClosed;
  const droppedAfterMs = Date.now() - started;
  sloth.conn.socket.resume();
  await sloth.conn.waitClosed(3000).catch(() => undefined);
  const kicksOrErrors = sloth.conn.frames.filter((f) => f.op === Op.KICK || f.op === Op.ERROR);
  if (!sloth.conn.isClosed) {
    failures.push('the never-reading client was not dropped (still connected after the phase)');
    sloth.close();
  } else {
    notes.push(
      `dropped ${droppedWhilePaused ? `after ${(droppedAfterMs / 1000).toFixed(1)} s, while not reading` : 'by the end of the phase'}, ${kicksOrErrors.length === 0 ? 'without a PDU (as write-buffer-full closes)' : `after ${kicksOrErrors.map((f) => `${f.op === Op.KICK ? 'KICK' : 'ERROR'} ${f.body?.code}`).join(', ')}`}; it had received ${state.appSeen.length} messages`,
    );
  }
  if (sendErrors.length > 0)
    failures.push(`the sender's SENDs failed: ${sendErrors[0]} (×${sendErrors.length})`);

  // Nothing acknowledged lost: the sloth's next login, with the lastSeq it holds, gets the rest.
  const acked = acks.filter((a) => a !== undefined);
  const held = state.lastSeq;
  const back = await loggedIn(ctx, slothUid, 3, { state }, held);
  await back.waitForApp(acked.length, 20_000).catch(() => undefined);
  await sleep(100);
  const seen = new Set(state.appSeen.map((m) => m.msgId));
  const lost = acked.filter((a) => !seen.has(a.msgId)).length;
  const inOrder = state.appSeen.every((m, i) => m.msgId === acked[i]?.msgId);
  notes.push(
    `${acked.length} messages of ${CONTENT_BYTES / 1000} KB acknowledged to the sender; at the next login (lastSeq ${held}) the sloth had all but ${lost}, ${inOrder ? 'in order' : 'OUT OF ORDER'}, ${back.pushes.length - (acked.length - held)} pushed twice`,
  );
  if (lost > 0) failures.push(`${lost} acknowledged messages never reached the sloth's next login`);
  if (!inOrder || state.gaps.length > 0) failures.push('the sloth got its messages out of order');
  back.close();
  feeder.close();
  tally.connects = 3;
  tally.outcomes[
    sloth.conn.isClosed && kicksOrErrors.length === 0 ? 'closed (write-buffer-full)' : 'other'
  ] = 1;
  return resultOf(ctx.phase, tally, {
    stoppedBy:
      (sloth.conn.isClosed
        ? `dropped ${kicksOrErrors.length === 0 ? 'without a PDU (as write-buffer-full closes)' : 'with a PDU'}`
        : 'not dropped') +
      `; ${lost === 0 ? 'all' : `${acked.length - lost} of`} ${acked.length} messages acknowledged to its sender delivered at its next login`,
    notes,
    failures,
  });
};
