import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
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
  checkQuotas,
  contentBytes,
  limitsInboxes,
  limitsSenders,
  senderDayAsOf,
  utcDay,
} from './message-quotas.js';

/** Schema steps, applied in order at open; the index + 1 is the schema version. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE messages (
     recipient TEXT NOT NULL,
     seq INTEGER NOT NULL,
     msg_id TEXT NOT NULL,
     sender TEXT NOT NULL,
     client_msg_id TEXT NOT NULL,
     content TEXT NOT NULL,
     ts INTEGER NOT NULL,
     PRIMARY KEY (recipient, seq)
   ) WITHOUT ROWID;
   CREATE UNIQUE INDEX messages_by_sender ON messages (sender, client_msg_id);
   CREATE INDEX messages_by_ts ON messages (ts);
   CREATE TABLE inboxes (
     uid TEXT PRIMARY KEY,
     last_seq INTEGER NOT NULL,
     acked_seq INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;`,
  // Quotas: each inbox's messages above its ack cursor and their bytes, valid while `counted`
  // (a missing count is made from the messages when an append needs it); each sender's
  // counts for the current UTC day.
  `ALTER TABLE inboxes ADD COLUMN pending_messages INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE inboxes ADD COLUMN pending_bytes INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE inboxes ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE sender_days (
     uid TEXT PRIMARY KEY,
     day INTEGER NOT NULL,
     messages INTEGER NOT NULL,
     bytes INTEGER NOT NULL
   ) WITHOUT ROWID;`,
];

interface MessageRow {
  recipient: string;
  seq: number;
  msg_id: string;
  sender: string;
  client_msg_id: string;
  content: string;
  ts: number;
}

interface PrunedRow {
  recipient: string;
  /** 1 when the message was above its inbox's ack cursor. */
  pending: number;
  bytes: number;
}

function toMessage(row: MessageRow): StoredMessage {
  return {
    msgId: row.msg_id,
    seq: row.seq,
    from: row.sender,
    to: row.recipient,
    clientMsgId: row.client_msg_id,
    content: row.content,
    ts: row.ts,
  };
}

/**
 * The embedded durable store. WAL with synchronous=FULL: a commit is on disk
 * (WAL fsynced) before append() resolves, so a SEND_ACK survives a process
 * crash and a power cut. Appends come in batches (one transaction, one fsync).
 */
export class SqliteMessageStore implements MessageStore {
  private db!: Database.Database;
  private stmt!: {
    bySender: Database.Statement<[string, string], MessageRow>;
    nextSeq: Database.Statement<[string], { last_seq: number }>;
    nextSeqCounted: Database.Statement<[string, number], { last_seq: number }>;
    insert: Database.Statement<[string, number, string, string, string, string, number]>;
    fetch: Database.Statement<[string, number, number], MessageRow>;
    inbox: Database.Statement<[string], { last_seq: number; acked_seq: number }>;
    ack: Database.Statement<[{ seq: number; uid: string }]>;
    prune: Database.Statement<[number, number, number, number], PrunedRow>;
    unprune: Database.Statement<[number, number, string]>;
    pending: Database.Statement<[string], Usage & { counted: number }>;
    recount: Database.Statement<[string], Usage>;
    senderDay: Database.Statement<[string], SenderDay>;
    countSender: Database.Statement<[string, number, number]>;
  };
  private appendTx!: (batch: readonly NewMessage[], quotas?: MessageQuotas) => AppendOutcome[];
  private pruneTx!: (deliveredBefore: number, undeliveredBefore: number, limit: number) => number;
  private ackTx!: (acks: ReadonlyMap<string, number>) => void;

  private readonly ids = new MsgIdGenerator();

  constructor(private readonly file: string) {}

  async open(): Promise<void> {
    if (this.file !== ':memory:') mkdirSync(dirname(this.file), { recursive: true });
    const db = new Database(this.file);
    this.db = db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    this.migrate();
    this.stmt = {
      bySender: db.prepare('SELECT * FROM messages WHERE sender = ? AND client_msg_id = ?'),
      // Without inbox quotas the counts are not kept: marked stale, at no extra cost.
      nextSeq: db.prepare(
        `INSERT INTO inboxes (uid, last_seq) VALUES (?, 1)
         ON CONFLICT (uid) DO UPDATE SET last_seq = last_seq + 1, counted = 0 RETURNING last_seq`,
      ),
      // With them, admit() has made the count valid; the statement that takes the seq adds to it.
      nextSeqCounted: db.prepare(
        `INSERT INTO inboxes (uid, last_seq, pending_messages, pending_bytes, counted)
         VALUES (?, 1, 1, ?, 1)
         ON CONFLICT (uid) DO UPDATE SET last_seq = last_seq + 1,
           pending_messages = pending_messages + 1,
           pending_bytes = pending_bytes + excluded.pending_bytes
         RETURNING last_seq`,
      ),
      insert: db.prepare(
        `INSERT INTO messages (recipient, seq, msg_id, sender, client_msg_id, content, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      fetch: db.prepare(
        'SELECT * FROM messages WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      inbox: db.prepare('SELECT last_seq, acked_seq FROM inboxes WHERE uid = ?'),
      // A counted inbox stops counting the newly acknowledged messages (a primary-key range);
      // CASE skips that read for the others.
      ack: db.prepare(
        `UPDATE inboxes SET acked_seq = MIN(last_seq, @seq),
           pending_messages = CASE WHEN counted THEN MAX(pending_messages - (
             SELECT count(*) FROM messages WHERE recipient = inboxes.uid
               AND seq > inboxes.acked_seq AND seq <= MIN(inboxes.last_seq, @seq)), 0) ELSE 0 END,
           pending_bytes = CASE WHEN counted THEN MAX(pending_bytes - (
             SELECT coalesce(sum(octet_length(content)), 0) FROM messages
             WHERE recipient = inboxes.uid
               AND seq > inboxes.acked_seq AND seq <= MIN(inboxes.last_seq, @seq)), 0) ELSE 0 END
         WHERE uid = @uid AND @seq > acked_seq`,
      ),
      // Oldest first through messages_by_ts, a bounded number per call; says which were counted
      // as pending.
      prune: db.prepare(
        `DELETE FROM messages WHERE (recipient, seq) IN (
           SELECT recipient, seq FROM messages
           WHERE ts < ? AND (ts < ? OR (ts < ? AND seq <= COALESCE(
             (SELECT acked_seq FROM inboxes WHERE inboxes.uid = messages.recipient), 0)))
           ORDER BY ts LIMIT ?)
         RETURNING recipient, COALESCE((SELECT counted AND messages.seq > acked_seq
           FROM inboxes WHERE inboxes.uid = messages.recipient), 0) AS pending,
           octet_length(content) AS bytes`,
      ),
      unprune: db.prepare(
        `UPDATE inboxes SET pending_messages = MAX(pending_messages - ?, 0),
           pending_bytes = MAX(pending_bytes - ?, 0) WHERE uid = ?`,
      ),
      pending: db.prepare(
        `SELECT pending_messages AS messages, pending_bytes AS bytes, counted
         FROM inboxes WHERE uid = ?`,
      ),
      recount: db.prepare(
        `UPDATE inboxes SET (pending_messages, pending_bytes, counted) = (
           SELECT count(*), coalesce(sum(octet_length(content)), 0), 1 FROM messages
           WHERE recipient = inboxes.uid AND seq > inboxes.acked_seq)
         WHERE uid = ? RETURNING pending_messages AS messages, pending_bytes AS bytes`,
      ),
      senderDay: db.prepare('SELECT day, messages, bytes FROM sender_days WHERE uid = ?'),
      // A later day (another clock) is kept as it is: see senderDayAsOf.
      countSender: db.prepare(
        `INSERT INTO sender_days (uid, day, messages, bytes) VALUES (?, ?, 1, ?)
         ON CONFLICT (uid) DO UPDATE SET day = MAX(day, excluded.day),
           messages = CASE WHEN day >= excluded.day THEN messages + 1 ELSE 1 END,
           bytes = CASE WHEN day >= excluded.day THEN bytes + excluded.bytes ELSE excluded.bytes END`,
      ),
    };
    this.appendTx = db.transaction((batch: readonly NewMessage[], quotas?: MessageQuotas) => {
      const ts = Date.now();
      return batch.map((m): AppendOutcome => {
        const existing = this.stmt.bySender.get(m.from, m.clientMsgId);
        if (existing) return { message: toMessage(existing), duplicate: true };
        let seq: number;
        if (quotas === undefined) {
          seq = this.stmt.nextSeq.get(m.to)!.last_seq;
        } else {
          const bytes = contentBytes(m.content);
          const refusal = this.admit(quotas, m, bytes, ts);
          if (refusal !== undefined) return refusal;
          seq = limitsInboxes(quotas)
            ? this.stmt.nextSeqCounted.get(m.to, bytes)!.last_seq
            : this.stmt.nextSeq.get(m.to)!.last_seq;
        }
        const msgId = this.ids.next();
        this.stmt.insert.run(m.to, seq, msgId, m.from, m.clientMsgId, m.content, ts);
        return { message: { ...m, msgId, seq, ts }, duplicate: false };
      });
    });
    this.ackTx = db.transaction((acks: ReadonlyMap<string, number>) => {
      for (const [uid, seq] of acks) this.stmt.ack.run({ seq, uid });
    });
    this.pruneTx = db.transaction(
      (deliveredBefore: number, undeliveredBefore: number, limit: number) => {
        const before = Math.max(deliveredBefore, undeliveredBefore);
        const rows = this.stmt.prune.all(before, undeliveredBefore, deliveredBefore, limit);
        // Unacknowledged messages dropped by age stop counting against their inboxes.
        const freed = new Map<string, Usage>();
        for (const row of rows) {
          if (!row.pending) continue;
          const usage = freed.get(row.recipient) ?? { messages: 0, bytes: 0 };
          usage.messages++;
          usage.bytes += row.bytes;
          freed.set(row.recipient, usage);
        }
        for (const [uid, usage] of freed) this.stmt.unprune.run(usage.messages, usage.bytes, uid);
        return rows.length;
      },
    );
  }

  append(batch: readonly NewMessage[]): Promise<AppendResult[]>;
  append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]>;
  async append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]> {
    return this.appendTx(batch, quotas);
  }

  async fetch(uid: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    return this.stmt.fetch.all(uid, afterSeq, limit).map(toMessage);
  }

  async lastSeq(uid: string): Promise<number> {
    return this.stmt.inbox.get(uid)?.last_seq ?? 0;
  }

  async ackedSeq(uid: string): Promise<number> {
    return this.stmt.inbox.get(uid)?.acked_seq ?? 0;
  }

  async ack(acks: ReadonlyMap<string, number>): Promise<void> {
    this.ackTx(acks);
  }

  async prune(deliveredBefore: number, undeliveredBefore: number, limit: number): Promise<number> {
    return this.pruneTx(deliveredBefore, undeliveredBefore, limit);
  }

  async check(): Promise<void> {
    if (!this.db?.open) throw new Error('the SQLite database is not open');
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close();
  }

  /**
   * Checks one new message against the quotas, inside the append transaction (one connection:
   * nothing else can change the counts between this read and the write).
   */
  private admit(
    quotas: MessageQuotas,
    m: NewMessage,
    bytes: number,
    now: number,
  ): AppendRefusal | undefined {
    const daily = limitsSenders(quotas);
    const sender = daily ? senderDayAsOf(this.stmt.senderDay.get(m.from), utcDay(now)) : undefined;
    const inbox = limitsInboxes(quotas) ? this.pending(m.to) : undefined;
    const refusal = checkQuotas(quotas, bytes, sender, inbox, now);
    if (refusal === undefined && daily) this.stmt.countSender.run(m.from, utcDay(now), bytes);
    return refusal;
  }

  /** The inbox's count, made from its messages first if it is not kept (quotas were off). */
  private pending(uid: string): Usage {
    const row = this.stmt.pending.get(uid);
    if (row === undefined) return { messages: 0, bytes: 0 };
    return row.counted ? row : this.stmt.recount.get(uid)!;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }
}
