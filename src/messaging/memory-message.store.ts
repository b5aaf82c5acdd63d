import { MessageStore } from './message.store.js';
import { MsgIdGenerator } from './msg-id.js';
import {
  AppendOutcome,
  AppendRefusal,
  AppendResult,
  MessageQuotas,
  NewMessage,
  StoredMessage,
} from './message.types.js';
import {
  SenderDay,
  Usage,
  addUsage,
  checkQuotas,
  contentBytes,
  limitsInboxes,
  limitsSenders,
  senderDayAsOf,
  utcDay,
} from './message-quotas.js';

interface Inbox {
  /** Messages in seq order; messages[i].seq === firstSeq + i. */
  messages: StoredMessage[];
  firstSeq: number;
  lastSeq: number;
  ackedSeq: number;
  /**
   * Stored messages above ackedSeq, what the inbox quotas count; kept only while appends
   * check inbox quotas (undefined: not counted, recounted when next needed).
   */
  pending: Usage | undefined;
}

/** In-process store for tests and benchmarks: fast, and gone with the process. */
export class MemoryMessageStore implements MessageStore {
  private readonly inboxes = new Map<string, Inbox>();
  /** sender → clientMsgId → message: the dedupe index. */
  private readonly bySender = new Map<string, Map<string, StoredMessage>>();
  /** sender → today's counts, kept only while a daily quota is on. */
  private readonly senderDays = new Map<string, SenderDay>();
  private readonly ids = new MsgIdGenerator();

  async open(): Promise<void> {}

  append(batch: readonly NewMessage[]): Promise<AppendResult[]>;
  append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]>;
  async append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]> {
    const ts = Date.now();
    return batch.map((m): AppendOutcome => {
      let sent = this.bySender.get(m.from);
      const existing = sent?.get(m.clientMsgId);
      if (existing) return { message: existing, duplicate: true };
      const inbox = this.inbox(m.to);
      const counting = quotas !== undefined && limitsInboxes(quotas);
      const bytes = quotas === undefined ? 0 : contentBytes(m.content);
      if (quotas !== undefined) {
        const refusal = this.admit(quotas, m.from, inbox, counting, bytes, ts);
        if (refusal !== undefined) return refusal;
      }
      const message: StoredMessage = {
        from: m.from,
        to: m.to,
        clientMsgId: m.clientMsgId,
        content: m.content,
        msgId: this.ids.next(),
        seq: ++inbox.lastSeq,
        ts,
      };
      inbox.messages.push(message);
      if (counting) addUsage(inbox.pending!, bytes);
      else inbox.pending = undefined;
      if (!sent) this.bySender.set(m.from, (sent = new Map()));
      sent.set(m.clientMsgId, message);
      return { message, duplicate: false };
    });
  }

  async fetch(uid: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const inbox = this.inboxes.get(uid);
    if (!inbox) return [];
    const start = Math.max(afterSeq + 1 - inbox.firstSeq, 0);
    return inbox.messages.slice(start, start + limit);
  }

  async lastSeq(uid: string): Promise<number> {
    return this.inboxes.get(uid)?.lastSeq ?? 0;
  }

  async ackedSeq(uid: string): Promise<number> {
    return this.inboxes.get(uid)?.ackedSeq ?? 0;
  }

  async ack(acks: ReadonlyMap<string, number>): Promise<void> {
    for (const [uid, seq] of acks) {
      const inbox = this.inboxes.get(uid);
      if (!inbox || seq <= inbox.ackedSeq) continue;
      const upTo = Math.min(seq, inbox.lastSeq);
      const { pending } = inbox;
      if (pending) {
        // The newly acknowledged messages still stored no longer count against the inbox.
        const end = Math.min(upTo - inbox.firstSeq + 1, inbox.messages.length);
        for (let i = Math.max(inbox.ackedSeq + 1 - inbox.firstSeq, 0); i < end; i++) {
          pending.messages--;
          pending.bytes -= contentBytes(inbox.messages[i].content);
        }
      }
      inbox.ackedSeq = upTo;
    }
  }

  async prune(deliveredBefore: number, undeliveredBefore: number, limit: number): Promise<number> {
    let dropped = 0;
    for (const inbox of this.inboxes.values()) {
      if (dropped >= limit) break;
      // Only a prefix can go, so sequences stay contiguous for fetch().
      const { messages } = inbox;
      let n = 0;
      while (n < messages.length && dropped + n < limit) {
        const m = messages[n];
        // Too old for anyone, or delivered and past retention; both are prefixes.
        const delivered = m.seq <= inbox.ackedSeq;
        if (!(m.ts < undeliveredBefore || (delivered && m.ts < deliveredBefore))) break;
        this.bySender.get(m.from)?.delete(m.clientMsgId);
        if (!delivered && inbox.pending) {
          inbox.pending.messages--;
          inbox.pending.bytes -= contentBytes(m.content);
        }
        n++;
      }
      messages.splice(0, n);
      inbox.firstSeq += n;
      dropped += n;
    }
    return dropped;
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {}

  /** Checks one new message against the quotas; counts it for its sender's day if it fits. */
  private admit(
    quotas: MessageQuotas,
    from: string,
    inbox: Inbox,
    counting: boolean,
    bytes: number,
    now: number,
  ): AppendRefusal | undefined {
    const sender = limitsSenders(quotas)
      ? senderDayAsOf(this.senderDays.get(from), utcDay(now))
      : undefined;
    if (counting && inbox.pending === undefined) inbox.pending = this.count(inbox);
    const refusal = checkQuotas(quotas, bytes, sender, counting ? inbox.pending : undefined, now);
    if (refusal === undefined && sender !== undefined) {
      addUsage(sender, bytes);
      this.senderDays.set(from, sender);
    }
    return refusal;
  }

  /** The stored messages above the ack cursor, counted afresh. */
  private count(inbox: Inbox): Usage {
    const usage = { messages: 0, bytes: 0 };
    for (let i = Math.max(inbox.ackedSeq + 1 - inbox.firstSeq, 0); i < inbox.messages.length; i++) {
      addUsage(usage, contentBytes(inbox.messages[i].content));
    }
    return usage;
  }

  private inbox(uid: string): Inbox {
    let inbox = this.inboxes.get(uid);
    if (!inbox) {
      inbox = {
        messages: [],
        firstSeq: 1,
        lastSeq: 0,
        ackedSeq: 0,
        pending: undefined,
      };
      this.inboxes.set(uid, inbox);
    }
    return inbox;
  }
}
