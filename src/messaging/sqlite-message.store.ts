import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MessageStore } from './message.store.js';
import { MsgIdGenerator } from './msg-id.js';
import { AppendResult, NewMessage, StoredMessage } from './message.types.js';

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
    insert: Database.Statement<[string, number, string, string, string, string, number]>;
    fetch: Database.Statement<[string, number, number], MessageRow>;
    inbox: Database.Statement<[string], { last_seq: number; acked_seq: number }>;
    ack: Database.Statement<[number, string]>;
    prune: Database.Statement<[number, number, number, number]>;
  };
  private appendTx!: (batch: readonly NewMessage[]) => AppendResult[];
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
      nextSeq: db.prepare(
        `INSERT INTO inboxes (uid, last_seq) VALUES (?, 1)
         ON CONFLICT (uid) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
      ),
      insert: db.prepare(
        `INSERT INTO messages (recipient, seq, msg_id, sender, client_msg_id, content, ts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      fetch: db.prepare(
        'SELECT * FROM messages WHERE recipient = ? AND seq > ? ORDER BY seq LIMIT ?',
      ),
      inbox: db.prepare('SELECT last_seq, acked_seq FROM inboxes WHERE uid = ?'),
      ack: db.prepare(
        'UPDATE inboxes SET acked_seq = MIN(last_seq, MAX(acked_seq, ?)) WHERE uid = ?',
      ),
      // Oldest first through messages_by_ts, a bounded number per call.
      prune: db.prepare(
        `DELETE FROM messages WHERE (recipient, seq) IN (
           SELECT recipient, seq FROM messages
           WHERE ts < ? AND (ts < ? OR (ts < ? AND seq <= COALESCE(
             (SELECT acked_seq FROM inboxes WHERE inboxes.uid = messages.recipient), 0)))
           ORDER BY ts LIMIT ?)`,
      ),
    };
    this.appendTx = db.transaction((batch: readonly NewMessage[]) => {
      const ts = Date.now();
      return batch.map((m): AppendResult => {
        const existing = this.stmt.bySender.get(m.from, m.clientMsgId);
        if (existing) return { message: toMessage(existing), duplicate: true };
        const seq = this.stmt.nextSeq.get(m.to)!.last_seq;
        const msgId = this.ids.next();
        this.stmt.insert.run(m.to, seq, msgId, m.from, m.clientMsgId, m.content, ts);
        return { message: { ...m, msgId, seq, ts }, duplicate: false };
      });
    });
    this.ackTx = db.transaction((acks: ReadonlyMap<string, number>) => {
      for (const [uid, seq] of acks) this.stmt.ack.run(seq, uid);
    });
  }

  async append(batch: readonly NewMessage[]): Promise<AppendResult[]> {
    return this.appendTx(batch);
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
    const before = Math.max(deliveredBefore, undeliveredBefore);
    return this.stmt.prune.run(before, undeliveredBefore, deliveredBefore, limit).changes;
  }

  async check(): Promise<void> {
    if (!this.db?.open) throw new Error('the SQLite database is not open');
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close();
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
