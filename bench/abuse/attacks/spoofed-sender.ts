import { MsgOp } from '../../../src/messaging/messaging.ops';
import { Op, REPLY_FLAG } from '../../../src/transport/ops';
import { AttackTally } from '../../../test/support/attack-client';
import { MessagingClient } from '../../../test/support/messaging-client';
import { TestClient } from '../../../test/support/test-client';
import { sleep } from '../../../test/support/wait';
import { Rng } from '../../../test/support/fuzzer';
import { SPOOFER, SPOOF_MARK } from '../phases';
import { Attack, describeCounts, resultOf } from './context';

const SENDS_PER_SECOND = 20;
/** The bystanders' clientMsgIds run 1, 2, 3…: this range covers past and future ones. */
const CLIENT_MSG_ID_RANGE = 40_000;

/**
 * Impersonation by an account holder: `mallory` logs in with a LOGIN body that also
 * names the bystander sender, then sends the bystander recipients messages whose
 * body says from/uid/sender = the bystander sender, reusing the bystander sender's
 * clientMsgIds (past and future ones). The gateway must deliver them as mallory's,
 * and must not let them replace or swallow a bystander message (dedupe is per
 * sender): the orchestrator checks both at the recipients.
 */
export const spoofedSender: Attack = async (ctx) => {
  const stopAt = Date.now() + ctx.seconds * 1000;
  const rng = new Rng(ctx.seed, 18);
  const failures: string[] = [];
  const [victim] = ctx.bystanderPairs[0];
  const mallory = new MessagingClient(
    await TestClient.connect(ctx.port, '127.0.0.1', ctx.address(1)),
  );
  const login = await mallory.request(Op.LOGIN, {
    token: await ctx.token(SPOOFER),
    uid: victim,
    sub: victim,
  });
  if (login.op !== (Op.LOGIN | REPLY_FLAG) >>> 0 || login.body?.uid !== SPOOFER) {
    failures.push(`LOGIN naming ${victim} in its body answered ${JSON.stringify(login.body)}`);
  }
  const replies: Record<string, number> = {};
  const msgIds = new Set<string>();
  const pending: Promise<void>[] = [];
  for (let i = 0; Date.now() < stopAt && !mallory.conn.isClosed; i++) {
    const p = i % ctx.bystanderPairs.length;
    const [sender, recipient] = ctx.bystanderPairs[p];
    const clientMsgId = `${ctx.clientMsgIdPrefixes[p]}${1 + rng.int(CLIENT_MSG_ID_RANGE)}`;
    pending.push(
      mallory
        .request(MsgOp.SEND, {
          to: recipient,
          clientMsgId,
          content: { mark: SPOOF_MARK, i },
          from: sender,
          uid: sender,
          sender,
        })
        .then(
          (r) => {
            const key = r.op === Op.ERROR ? `ERROR ${r.body?.code}` : 'SEND_ACK';
            replies[key] = (replies[key] ?? 0) + 1;
            if (r.op !== Op.ERROR) msgIds.add(r.body.msgId);
          },
          () => void (replies['no answer'] = (replies['no answer'] ?? 0) + 1),
        ),
    );
    await sleep(1000 / SENDS_PER_SECOND);
  }
  await Promise.all(pending);
  mallory.close();
  const tally = new AttackTally();
  tally.connects = 1;
  tally.replies = replies['SEND_ACK'] ?? 0;
  if (mallory.kick) failures.push(`mallory was kicked: ${mallory.kick.code}`);
  return resultOf(ctx.phase, tally, {
    stoppedBy: `sender taken from the session: LOGIN as ${login.body?.uid}; SENDs: ${describeCounts(replies)} (checked at the recipients)`,
    notes: [
      `${SENDS_PER_SECOND} SENDs/s from ${ctx.address(1)} to the bystander recipients with from/uid/sender = the bystander sender and its clientMsgIds`,
      `${msgIds.size} distinct messages stored for them (mallory's own repeated clientMsgIds are deduplicated); the recipients' view is under "Nothing acknowledged lost"`,
    ],
    failures,
  });
};
