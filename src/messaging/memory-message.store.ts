import { MessageStore } from './message.store.js';
import { MsgIdGenerator } from './msg-id.js';
import { AppendResult, NewMessage, StoredMessage } from './message.types.js';

interface Inbox {
  /** Messages in seq order; messages[i].seq === firstSeq + i. */
  messages: StoredMessage[];
  firstSeq: number;
  lastSeq: number;
  ackedSeq: number;
}

/** In-process store for tests and benchmarks: fast, and gone with the process. */
export class MemoryMessageStore implements MessageStore {
  private readonly inboxes = new Map<string, Inbox>();
  /** sender → clientMsgId → message: the dedupe index. */
  private readonly bySender = new Map<string, Map<string, StoredMessage>>();
  private readonly ids = new MsgIdGenerator();

  async open(): Promise<void> {}

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    const ts = Date.now();
    return batch.map((m) => {
      let sent = this.bySender.get(m.from);
      const existing = sent?.get(m.clientMsgId);
      if (existing) return { message: existing, duplicate: true };
      const inbox = this.inbox(m.to);
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
      if (inbox && seq > inbox.ackedSeq) inbox.ackedSeq = Math.min(seq, inbox.lastSeq);
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

  private inbox(uid: string): Inbox {
    let inbox = this.inboxes.get(uid);
    if (!inbox) {
      inbox = { messages: [], firstSeq: 1, lastSeq: 0, ackedSeq: 0 };
      this.inboxes.set(uid, inbox);
    }
    return inbox;
  }
}
