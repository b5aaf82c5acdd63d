/** One schema step of the PostgreSQL store; applied once, in version order, in a transaction. */
export interface PostgresMigration {
  version: number;
  sql: string;
}

/** Records the versions applied, in the schema the store uses. */
export const MIGRATIONS_TABLE = 'longlink_schema_migrations';

/**
 * Key of the transaction-scoped advisory lock every migration step takes, so nodes
 * starting at once apply each step exactly once ('long' in ASCII).
 */
export const MIGRATION_LOCK_KEY = 0x6c6f6e67;

/*
 * Ids (uids, clientMsgId) are bytea, their UTF-8 bytes: PostgreSQL text cannot hold
 * U+0000, which a JSON string can. Content stays text: it is JSON, which escapes it.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    sql: `CREATE TABLE messages (
            to_uid bytea NOT NULL,
            seq bigint NOT NULL,
            msg_id text NOT NULL UNIQUE,
            from_uid bytea NOT NULL,
            client_msg_id bytea NOT NULL,
            content text NOT NULL,
            ts bigint NOT NULL,
            PRIMARY KEY (to_uid, seq)
          );
          CREATE UNIQUE INDEX messages_by_sender ON messages (from_uid, client_msg_id);
          CREATE INDEX messages_by_ts ON messages (ts);
          CREATE TABLE inboxes (
            uid bytea PRIMARY KEY,
            last_seq bigint NOT NULL,
            acked_seq bigint NOT NULL DEFAULT 0
          );`,
  },
  {
    // Quotas: each inbox's messages above its ack cursor and their bytes, valid while `counted`
    // (nodes not checking inbox quotas only mark it stale; an append that needs it counts the
    // messages again), and each sender's counts for the current UTC day. Constant defaults: no
    // table rewrite. A node of version 1 neither keeps nor marks the counts: turn inbox quotas
    // on once every node runs version 2.
    version: 2,
    sql: `ALTER TABLE inboxes
            ADD COLUMN pending_messages bigint NOT NULL DEFAULT 0,
            ADD COLUMN pending_bytes bigint NOT NULL DEFAULT 0,
            ADD COLUMN counted boolean NOT NULL DEFAULT false;
          CREATE TABLE sender_days (
            uid bytea PRIMARY KEY,
            day integer NOT NULL,
            messages bigint NOT NULL,
            bytes bigint NOT NULL
          );`,
  },
];
