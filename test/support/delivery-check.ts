import { InboxMessage, Outgoing, ReliableClient } from './reliable-client';

/**
 * Checks of the delivery guarantee shared by the specs that break things
 * (chaos, cluster failures): every acknowledged message reached its
 * recipient's application exactly once, in per-sender order.
 */

/** The clientMsgId of a sender's k-th message. */
export const cidOf = (uid: string, k: number) => `${uid}/${String(k).padStart(4, '0')}`;

export interface Content {
  from: string;
  k: number;
}

/** Everything wrong with what the recipients hold, given what the senders had acknowledged. */
export function deliveryProblems(clients: readonly ReliableClient[]): string[] {
  const problems: string[] = clients.flatMap((c) => c.anomalies);
  const byUid = new Map(clients.map((c) => [c.uid, c]));
  const outgoing = new Map<string, Outgoing>();
  for (const c of clients) for (const m of c.outbox) outgoing.set(m.clientMsgId, m);

  const deliveredCount = new Map<string, number>();
  for (const recipient of clients) {
    const lastK = new Map<string, number>();
    for (const m of recipient.inbox as InboxMessage[]) {
      const content = m.content as Content | undefined;
      const id =
        content && typeof content.from === 'string' && Number.isInteger(content.k)
          ? cidOf(content.from, content.k)
          : undefined;
      const sent = id === undefined ? undefined : outgoing.get(id);
      if (id === undefined || sent === undefined) {
        problems.push(`${recipient.uid} got a message nobody sent: ${JSON.stringify(m)}`);
        continue;
      }
      if (sent.to !== recipient.uid || m.from !== content!.from) {
        problems.push(`${id} (to ${sent.to}) reached ${recipient.uid} marked from ${m.from}`);
      }
      deliveredCount.set(id, (deliveredCount.get(id) ?? 0) + 1);
      if (sent.ack && (sent.ack.msgId !== m.msgId || sent.ack.seq !== m.seq)) {
        problems.push(
          `${id} acked as msgId ${sent.ack.msgId} seq ${sent.ack.seq}, ` +
            `delivered as msgId ${m.msgId} seq ${m.seq}`,
        );
      }
      const previous = lastK.get(m.from);
      if (previous !== undefined && content!.k <= previous) {
        problems.push(
          `${recipient.uid} got ${id} after ${cidOf(m.from, previous)} (out of sender order)`,
        );
      }
      lastK.set(m.from, content!.k);
    }
  }
  for (const [id, count] of deliveredCount) {
    if (count > 1) problems.push(`${id} reached the application ${count} times`);
  }
  for (const sender of clients) {
    for (const m of sender.acked) {
      if (!deliveredCount.has(m.clientMsgId)) {
        const recipient = byUid.get(m.to)!;
        problems.push(
          `${m.clientMsgId} acked (seq ${m.ack!.seq}) but not delivered to ${m.to} ` +
            `(its lastSeq ${recipient.lastSeq}, online ${recipient.online})`,
        );
      }
    }
  }
  return problems;
}
