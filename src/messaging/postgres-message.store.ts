import { Logger } from '@nestjs/common';
import { DatabaseError, Pool, PoolClient } from 'pg';
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
import {
  MIGRATION_LOCK_KEY,
  MIGRATIONS_TABLE,
  POSTGRES_MIGRATIONS,
} from './postgres-migrations.js';

export interface PostgresStoreOptions {
  /** A libpq connection URL, e.g. postgres://user:password@host:5432/longlink. */
  url: string;
  /** Connections per process (default 10). */
  poolSize?: number;
  /** Connecting, or waiting for a free pooled connection, fails after this (default 5000). */
  connectTimeoutMs?: number;
  /** A statement fails after this (default 5000). */
  queryTimeoutMs?: number;
  /** A schema of its own, created at open (tests); default: the server's search_path. */
  schema?: string;
}

/** Attempts of one transaction when another node got in the way (see append). */
const MAX_ATTEMPTS = 5;
/** Deadlock, serialization failure: the transaction can simply run again. */
const RETRYABLE_CODES = new Set(['40P01', '40001']);
/** The server cancels first (the connection stays usable); this is for a server that is gone. */
const CLIENT_TIMEOUT_GRACE_MS = 1000;
/** Node timers overflow above this and then fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Unquoted identifiers only: it goes into `-c search_path=` and SQL as is. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Another node stored one of the batch's (from, clientMsgId) after we looked. */
class DedupeRace extends Error {}

interface MessageRow {
  to_uid: Buffer;
  seq: string;
  msg_id: string;
  from_uid: Buffer;
  client_msg_id: Buffer;
  content: string;
  ts: string;
}

/** An id as stored: its UTF-8 bytes. */
const bytes = (id: string): Buffer => Buffer.from(id, 'utf8');
/** Equal exactly when the stored bytes are: latin1 maps each byte to one char below U+0100. */
const keyOf = (b: Buffer): string => b.toString('latin1');
const senderKey = (from: Buffer, clientMsgId: Buffer): string =>
  `${keyOf(from)}\u0100${keyOf(clientMsgId)}`;

function toMessage(row: MessageRow): StoredMessage {
  return {
    msgId: row.msg_id,
    seq: Number(row.seq),
    from: row.from_uid.toString('utf8'),
    to: row.to_uid.toString('utf8'),
    clientMsgId: row.client_msg_id.toString('utf8'),
    content: row.content,
    ts: Number(row.ts),
  };
}

/** Each id once (an upsert may not touch one row twice). */
function distinct(ids: readonly Buffer[]): Buffer[] {
  return [...new Map(ids.map((id) => [keyOf(id), id])).values()];
}

function isRetryable(err: unknown): boolean {
  return (
    err instanceof DedupeRace ||
    (err instanceof DatabaseError && RETRYABLE_CODES.has(err.code ?? ''))
  );
}

interface Encoded {
  to: Buffer;
  from: Buffer;
  clientMsgId: Buffer;
  key: string;
}

/**
 * The store shared by several nodes. A batch is one transaction and append()
 * resolves after its COMMIT (durable as the server's fsync settings make it).
 * Seqs come from a per-inbox counter row updated inside that transaction: the
 * row lock serializes appends to one inbox across processes, and a rollback
 * gives its seqs back, so they stay gap-free.
 */
export class PostgresMessageStore implements MessageStore {
  private readonly pool: Pool;
  private readonly schema: string | undefined;
  private readonly ids = new MsgIdGenerator();
  private readonly logger = new Logger('PostgresMessageStore');
  private ended = false;

  constructor(options: PostgresStoreOptions) {
    const { url, poolSize = 10, connectTimeoutMs = 5000, queryTimeoutMs = 5000, schema } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
    }
    this.schema = schema;
    this.pool = new Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: connectTimeoutMs,
      statement_timeout: queryTimeoutMs,
      query_timeout: Math.min(queryTimeoutMs + CLIENT_TIMEOUT_GRACE_MS, MAX_TIMER_MS),
      // A node that vanishes mid-transaction must not keep inbox rows locked.
      idle_in_transaction_session_timeout: queryTimeoutMs,
      keepAlive: true,
      options: schema === undefined ? undefined : `-c search_path=${schema}`,
    });
    // A pooled idle connection that breaks is dropped; unheard, the error would crash the process.
    this.pool.on('error', (err) => this.logger.warn(`idle connection lost: ${err.message}`));
  }

  async open(): Promise<void> {
    const applied = await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      if (this.schema !== undefined) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      }
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
           version integer PRIMARY KEY,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await client.query<{ version: number }>(
        `SELECT version FROM ${MIGRATIONS_TABLE}`,
      );
      return new Set(rows.map((r) => r.version));
    });
    for (const { version, sql } of POSTGRES_MIGRATIONS) {
      if (applied.has(version)) continue;
      await this.transaction(async (client) => {
        // Under the lock, look again: another node may have applied it meanwhile.
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        const done = await client.query(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE version = $1`, [
          version,
        ]);
        if (done.rowCount) return;
        await client.query(sql);
        await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (version) VALUES ($1)`, [version]);
      });
    }
  }

  append(batch: readonly NewMessage[]): Promise<AppendResult[]>;
  append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]>;
  async append(batch: readonly NewMessage[], quotas?: MessageQuotas): Promise<AppendOutcome[]> {
    if (batch.length === 0) return [];
    const ts = Date.now();
    const encoded = batch.map((m): Encoded => {
      const from = bytes(m.from);
      const clientMsgId = bytes(m.clientMsgId);
      return { to: bytes(m.to), from, clientMsgId, key: senderKey(from, clientMsgId) };
    });
    return this.retrying(() =>
      this.transaction((client) => this.appendIn(client, batch, encoded, ts, quotas)),
    );
  }

  async fetch(uid: string, afterSeq: number, limit: number): Promise<StoredMessage[]> {
    const { rows } = await this.pool.query<MessageRow>(
      'SELECT * FROM messages WHERE to_uid = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [bytes(uid), afterSeq, limit],
    );
    return rows.map(toMessage);
  }

  async lastSeq(uid: string): Promise<number> {
    return (await this.inbox(uid))?.last_seq ?? 0;
  }

  async ackedSeq(uid: string): Promise<number> {
    return (await this.inbox(uid))?.acked_seq ?? 0;
  }

  async ack(acks: ReadonlyMap<string, number>): Promise<void> {
    if (acks.size === 0) return;
    const uids = [...acks.keys()].map(bytes);
    const seqs = [...acks.values()];
    await this.retrying(() =>
      this.transaction(async (client) => {
        // Rows locked in uid order, as append() locks them, so the two cannot deadlock.
        await client.query(
          'SELECT 1 FROM inboxes WHERE uid = ANY($1::bytea[]) ORDER BY uid FOR UPDATE',
          [uids],
        );
        // A counted inbox stops counting the newly acknowledged messages (a primary-key
        // range); CASE skips that read for the others.
        await client.query(
          `UPDATE inboxes AS i SET acked_seq = LEAST(i.last_seq, t.seq),
             pending_messages = CASE WHEN i.counted THEN GREATEST(i.pending_messages - (
               SELECT count(*) FROM messages AS m WHERE m.to_uid = i.uid
                 AND m.seq > i.acked_seq AND m.seq <= LEAST(i.last_seq, t.seq)), 0) ELSE 0 END,
             pending_bytes = CASE WHEN i.counted THEN GREATEST(i.pending_bytes - (
               SELECT coalesce(sum(octet_length(m.content)), 0) FROM messages AS m
               WHERE m.to_uid = i.uid
                 AND m.seq > i.acked_seq AND m.seq <= LEAST(i.last_seq, t.seq)), 0) ELSE 0 END
           FROM unnest($1::bytea[], $2::bigint[]) AS t(uid, seq)
           WHERE i.uid = t.uid AND t.seq > i.acked_seq`,
          [uids, seqs],
        );
      }),
    );
  }

  async prune(deliveredBefore: number, undeliveredBefore: number, limit: number): Promise<number> {
    const before = Math.max(deliveredBefore, undeliveredBefore);
    return this.retrying(() =>
      this.transaction(async (client) => {
        // Oldest first through messages_by_ts; SKIP LOCKED lets several nodes prune at once.
        const due = await client.query<{ to_uid: Buffer; seq: string }>(
          `SELECT to_uid, seq FROM messages AS m
           WHERE ts < $1 AND (ts < $2 OR (ts < $3 AND seq <= COALESCE(
             (SELECT acked_seq FROM inboxes WHERE inboxes.uid = m.to_uid), 0)))
           ORDER BY ts LIMIT $4
           FOR UPDATE SKIP LOCKED`,
          [before, undeliveredBefore, deliveredBefore, limit],
        );
        if (due.rows.length === 0) return 0;
        const inboxes = new Map(due.rows.map((r) => [keyOf(r.to_uid), r.to_uid]));
        // Their counter rows locked in uid order (as append and ack lock them) before the
        // delete, so the ack cursor that says which dropped messages were pending holds still.
        await client.query(
          'SELECT 1 FROM inboxes WHERE uid = ANY($1::bytea[]) ORDER BY uid FOR UPDATE',
          [[...inboxes.values()]],
        );
        const { rows } = await client.query<{ n: number }>(
          `WITH dropped AS (
             DELETE FROM messages AS m USING unnest($1::bytea[], $2::bigint[]) AS t(to_uid, seq)
             WHERE m.to_uid = t.to_uid AND m.seq = t.seq
             RETURNING m.to_uid, m.seq, octet_length(m.content) AS bytes),
           freed AS (
             SELECT d.to_uid, count(*) AS n, sum(d.bytes) AS bytes
             FROM dropped AS d JOIN inboxes AS i ON i.uid = d.to_uid
             WHERE i.counted AND d.seq > i.acked_seq GROUP BY d.to_uid),
           counted AS (
             UPDATE inboxes AS i SET pending_messages = GREATEST(i.pending_messages - f.n, 0),
               pending_bytes = GREATEST(i.pending_bytes - f.bytes, 0)
             FROM freed AS f WHERE i.uid = f.to_uid)
           SELECT count(*)::int AS n FROM dropped`,
          [due.rows.map((r) => r.to_uid), due.rows.map((r) => r.seq)],
        );
        return rows[0].n;
      }),
    );
  }

  async check(): Promise<void> {
    if (this.ended) throw new Error('the PostgreSQL pool is closed');
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.pool.end();
  }

  private async appendIn(
    client: PoolClient,
    batch: readonly NewMessage[],
    encoded: readonly Encoded[],
    ts: number,
    quotas: MessageQuotas | undefined,
  ): Promise<AppendOutcome[]> {
    // The first of each (from, clientMsgId) in the batch; later ones are its duplicates.
    const first = new Map<string, number>();
    encoded.forEach((e, i) => {
      if (!first.has(e.key)) first.set(e.key, i);
    });
    const unique = [...first.values()];
    const stored = await client.query<MessageRow>(
      `SELECT * FROM messages WHERE (from_uid, client_msg_id) IN
         (SELECT * FROM unnest($1::bytea[], $2::bytea[]))`,
      [unique.map((i) => encoded[i].from), unique.map((i) => encoded[i].clientMsgId)],
    );
    const existing = new Map<string, StoredMessage>();
    for (const row of stored.rows) {
      existing.set(senderKey(row.from_uid, row.client_msg_id), toMessage(row));
    }
    const fresh = unique.filter((i) => !existing.has(encoded[i].key));
    if (fresh.length === 0) {
      return batch.map((_, i) => ({ message: existing.get(encoded[i].key)!, duplicate: true }));
    }
    let refused: Map<number, AppendRefusal> | undefined;
    let accepted = fresh;
    // Content bytes by batch index of the new ones, when inbox quotas keep their inboxes' counts.
    let sizes: number[] | undefined;
    if (quotas !== undefined) {
      const bytes: number[] = [];
      for (const i of fresh) bytes[i] = contentBytes(batch[i].content);
      refused = await this.admit(client, quotas, encoded, fresh, bytes, ts);
      accepted = fresh.filter((i) => !refused!.has(i));
      if (limitsInboxes(quotas)) sizes = accepted.map((i) => bytes[i]);
    }
    const nextSeq =
      accepted.length === 0
        ? new Map<string, number>()
        : await this.reserveSeqs(
            client,
            accepted.map((i) => encoded[i].to),
            sizes,
          );

    const results: AppendOutcome[] = [];
    const added: { e: Encoded; message: StoredMessage }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const e = encoded[i];
      const j = first.get(e.key)!;
      const stored = existing.get(e.key);
      if (stored !== undefined) {
        results.push({ message: stored, duplicate: true });
        continue;
      }
      if (j < i) {
        // A resend within the batch shares the fate of its first copy.
        const earlier = results[j];
        results.push(earlier.refused ? earlier : { message: earlier.message, duplicate: true });
        continue;
      }
      const refusal = refused?.get(i);
      if (refusal !== undefined) {
        results.push(refusal);
        continue;
      }
      const inbox = keyOf(e.to);
      const seq = nextSeq.get(inbox)!;
      nextSeq.set(inbox, seq + 1);
      const { from, to, clientMsgId, content } = batch[i];
      const message = { from, to, clientMsgId, content, msgId: this.ids.next(), seq, ts };
      results.push({ message, duplicate: false });
      added.push({ e, message });
    }
    if (added.length === 0) return results;
    // Inserted in (from, clientMsgId) order: two batches waiting on each other's
    // uncommitted keys in opposite orders would deadlock.
    const inserted = await client.query(
      `INSERT INTO messages (to_uid, seq, msg_id, from_uid, client_msg_id, content, ts)
       SELECT t.*, $7::bigint FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bytea[],
         $5::bytea[], $6::text[]) AS t(to_uid, seq, msg_id, from_uid, client_msg_id, content)
       ORDER BY from_uid, client_msg_id
       ON CONFLICT (from_uid, client_msg_id) DO NOTHING`,
      [
        added.map((a) => a.e.to),
        added.map((a) => a.message.seq),
        added.map((a) => a.message.msgId),
        added.map((a) => a.e.from),
        added.map((a) => a.e.clientMsgId),
        added.map((a) => a.message.content),
        ts,
      ],
    );
    // Another node stored one of them since the SELECT; kept, this attempt's seqs would leave a gap.
    if (inserted.rowCount !== added.length) throw new DedupeRace();
    return results;
  }

  /**
   * Checks the batch's new messages (batch indexes `fresh`, in order; `sizes` by batch index)
   * against the quotas, with the counts read under row locks taken for the rest of the
   * transaction: the senders' day rows, then the inbox rows, each in uid order (every append
   * locks in this order; ack and prune lock inbox rows only), so appends on several nodes
   * serialize per sender and per inbox and never deadlock. Writes the senders' new day
   * counts; reserveSeqs adds the accepted messages to the inbox counts. Returns the refused.
   */
  private async admit(
    client: PoolClient,
    quotas: MessageQuotas,
    encoded: readonly Encoded[],
    fresh: readonly number[],
    sizes: readonly number[],
    now: number,
  ): Promise<Map<number, AppendRefusal>> {
    const today = utcDay(now);
    const senders = limitsSenders(quotas)
      ? await this.lockSenders(
          client,
          fresh.map((i) => encoded[i].from),
          today,
        )
      : undefined;
    const inboxes = limitsInboxes(quotas)
      ? await this.lockInboxes(
          client,
          fresh.map((i) => encoded[i].to),
        )
      : undefined;
    const refused = new Map<number, AppendRefusal>();
    const counted = new Map<string, { uid: Buffer; day: SenderDay }>();
    for (const i of fresh) {
      const bytes = sizes[i];
      const { from, to } = encoded[i];
      const sender = senders && senderDayAsOf(senders.get(keyOf(from)), today);
      const inbox = inboxes?.get(keyOf(to));
      const refusal = checkQuotas(quotas, bytes, sender, inbox, now);
      if (refusal !== undefined) {
        refused.set(i, refusal);
        continue;
      }
      if (inbox) addUsage(inbox, bytes);
      if (senders && sender) {
        addUsage(sender, bytes);
        senders.set(keyOf(from), sender);
        counted.set(keyOf(from), { uid: from, day: sender });
      }
    }
    if (counted.size > 0) {
      const rows = [...counted.values()];
      await client.query(
        `UPDATE sender_days AS s SET day = t.day, messages = t.messages, bytes = t.bytes
         FROM unnest($1::bytea[], $2::int[], $3::bigint[], $4::bigint[])
           AS t(uid, day, messages, bytes)
         WHERE s.uid = t.uid`,
        [
          rows.map((r) => r.uid),
          rows.map((r) => r.day.day),
          rows.map((r) => r.day.messages),
          rows.map((r) => r.day.bytes),
        ],
      );
    }
    return refused;
  }

  /** Locks (creating at 0 when missing) the senders' day rows in uid order; returns them. */
  private async lockSenders(
    client: PoolClient,
    uids: readonly Buffer[],
    today: number,
  ): Promise<Map<string, SenderDay>> {
    const { rows } = await client.query<{
      uid: Buffer;
      day: number;
      messages: string;
      bytes: string;
    }>(
      `INSERT INTO sender_days AS s (uid, day, messages, bytes)
       SELECT u, $2::int, 0, 0 FROM unnest($1::bytea[]) AS u ORDER BY u
       ON CONFLICT (uid) DO UPDATE SET day = s.day
       RETURNING uid, day, messages, bytes`,
      [distinct(uids), today],
    );
    return new Map(
      rows.map((r) => [
        keyOf(r.uid),
        { day: r.day, messages: Number(r.messages), bytes: Number(r.bytes) },
      ]),
    );
  }

  /**
   * Locks (creating empty when missing) the inbox counter rows in uid order; returns their
   * counts, made from the messages first where they are not kept (stale).
   */
  private async lockInboxes(
    client: PoolClient,
    uids: readonly Buffer[],
  ): Promise<Map<string, Usage>> {
    type Row = { uid: Buffer; pending_messages: string; pending_bytes: string; counted: boolean };
    const { rows } = await client.query<Row>(
      `INSERT INTO inboxes AS i (uid, last_seq, counted)
       SELECT u, 0, true FROM unnest($1::bytea[]) AS u ORDER BY u
       ON CONFLICT (uid) DO UPDATE SET last_seq = i.last_seq
       RETURNING uid, pending_messages, pending_bytes, counted`,
      [distinct(uids)],
    );
    const stale = rows.filter((r) => !r.counted).map((r) => r.uid);
    const recounted =
      stale.length === 0
        ? []
        : (
            await client.query<Row>(
              `UPDATE inboxes AS i SET (pending_messages, pending_bytes, counted) = (
                 SELECT count(*), coalesce(sum(octet_length(m.content)), 0), true
                 FROM messages AS m WHERE m.to_uid = i.uid AND m.seq > i.acked_seq)
               WHERE i.uid = ANY($1::bytea[])
               RETURNING uid, pending_messages, pending_bytes, counted`,
              [stale],
            )
          ).rows;
    return new Map(
      [...rows.filter((r) => r.counted), ...recounted].map((r) => [
        keyOf(r.uid),
        { messages: Number(r.pending_messages), bytes: Number(r.pending_bytes) },
      ]),
    );
  }

  /**
   * Takes `uids.length` seqs (one per entry) from the inboxes' counter rows, which stay
   * locked until the transaction ends; returns each inbox's first new seq. With `sizes`
   * (the entries' content bytes; lockInboxes made the counts valid) the messages are added
   * to the inboxes' counts, else the counts are marked stale. Rows are locked in uid order
   * (inserted in the SELECT's order), so batches sharing inboxes wait for each other
   * instead of deadlocking.
   */
  private async reserveSeqs(
    client: PoolClient,
    uids: readonly Buffer[],
    sizes: readonly number[] | undefined,
  ): Promise<Map<string, number>> {
    const counts = new Map<string, { uid: Buffer; n: number; bytes: number }>();
    uids.forEach((uid, k) => {
      const bytes = sizes === undefined ? 0 : sizes[k];
      const inbox = counts.get(keyOf(uid));
      if (inbox) {
        inbox.n++;
        inbox.bytes += bytes;
      } else counts.set(keyOf(uid), { uid, n: 1, bytes });
    });
    const inboxes = [...counts.values()];
    const { rows } = await client.query<{ uid: Buffer; last_seq: string }>(
      sizes === undefined
        ? `INSERT INTO inboxes AS i (uid, last_seq)
           SELECT * FROM unnest($1::bytea[], $2::bigint[]) AS t(uid, n) ORDER BY uid
           ON CONFLICT (uid) DO UPDATE SET last_seq = i.last_seq + EXCLUDED.last_seq,
             counted = false
           RETURNING uid, last_seq`
        : `INSERT INTO inboxes AS i (uid, last_seq, pending_messages, pending_bytes, counted)
           SELECT t.uid, t.n, t.n, t.bytes, true
           FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS t(uid, n, bytes) ORDER BY uid
           ON CONFLICT (uid) DO UPDATE SET last_seq = i.last_seq + EXCLUDED.last_seq,
             pending_messages = i.pending_messages + EXCLUDED.pending_messages,
             pending_bytes = i.pending_bytes + EXCLUDED.pending_bytes
           RETURNING uid, last_seq`,
      sizes === undefined
        ? [inboxes.map((c) => c.uid), inboxes.map((c) => c.n)]
        : [inboxes.map((c) => c.uid), inboxes.map((c) => c.n), inboxes.map((c) => c.bytes)],
    );
    const next = new Map<string, number>();
    for (const row of rows) {
      const key = keyOf(row.uid);
      next.set(key, Number(row.last_seq) - counts.get(key)!.n + 1);
    }
    return next;
  }

  private async inbox(uid: string): Promise<{ last_seq: number; acked_seq: number } | undefined> {
    const { rows } = await this.pool.query<{ last_seq: string; acked_seq: string }>(
      'SELECT last_seq, acked_seq FROM inboxes WHERE uid = $1',
      [bytes(uid)],
    );
    const row = rows[0];
    return row && { last_seq: Number(row.last_seq), acked_seq: Number(row.acked_seq) };
  }

  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (n >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
      }
    }
  }

  /** Runs `work` between BEGIN and COMMIT on one pooled connection; resolves after COMMIT. */
  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let discard = false;
    // The pool listens for errors of idle connections only: a connection lost while checked out
    // (server restart, network cut) emits 'error' beside failing the running query, and unheard
    // that error would crash the process.
    const onLost = (err: Error) => {
      discard = true;
      this.logger.warn(`connection lost during a transaction: ${err.message}`);
    };
    client.on('error', onLost);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A server error leaves the connection usable; anything else (timeout, lost socket) does not.
      if (err instanceof DatabaseError || err instanceof DedupeRace) {
        await client.query('ROLLBACK').catch(() => (discard = true));
      } else {
        discard = true;
      }
      throw err;
    } finally {
      client.removeListener('error', onLost);
      client.release(discard);
    }
  }
}
