import type Database from 'better-sqlite3';

/**
 * Schema steps of the SQLite store, applied in order at open; the index + 1 is the
 * schema version (PRAGMA user_version). Never edit a step that shipped: add one.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: the first schema.
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
  // 2: retention walks inboxes, not messages. messages_by_ts cost a B-tree insert and delete
  // per message; an inbox's messages are in ts order by seq, so the oldest one (oldest_ts,
  // kept by append and prune) says whether any of them is due, and prune deletes prefixes
  // through the primary key. Existing rows are kept; oldest_ts is filled from them.
  `DROP INDEX messages_by_ts;
   ALTER TABLE inboxes ADD COLUMN oldest_ts INTEGER;
   UPDATE inboxes SET oldest_ts =
     (SELECT MIN(ts) FROM messages WHERE messages.recipient = inboxes.uid);
   CREATE INDEX inboxes_by_oldest_ts ON inboxes (oldest_ts) WHERE oldest_ts IS NOT NULL;`,
];

/** Brings `db` to the newest schema, one transaction per step. */
export function migrateSqlite(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < SQLITE_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
