import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server, Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { MsgOp } from '../src/messaging/messaging.ops';
import { ErrorCode } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { MessagingClient, Reply } from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

/**
 * PostgreSQL going away under a running gateway, and not being there at startup. The gateway
 * reaches PostgreSQL through a TCP proxy of this spec, which can cut it off (every connection
 * reset, new ones refused) or stall it (nothing answered) and restore it, without touching the
 * server other specs use. Each run has a database of its own, dropped at the end.
 */

const POSTGRES_URL =
  process.env.LONGLINK_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/longlink_test';
const CONNECT_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 1000;
/** The store's client gives up on a query 1 s after statement_timeout (a server that is gone). */
const CLIENT_QUERY_TIMEOUT_MS = QUERY_TIMEOUT_MS + 1000;
const SLACK_MS = 2000;
/** SENDs of the stream PostgreSQL is cut off in the middle of, and how many are in flight. */
const BURST = 400;
const BURST_LANES = 16;
const SEND_ACK = (MsgOp.SEND | REPLY_FLAG) >>> 0;
const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');

async function sql<T>(url: string, run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** POSTGRES_URL with another database, and optionally another host and port. */
function urlOf(database: string, hostPort?: string): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  if (hostPort !== undefined) url.host = hostPort;
  return url.toString();
}

/** The URL with a password (the server trusts us and never asks for it): must not be printed. */
function withPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = 's3cret';
  return parsed.toString();
}

/**
 * A TCP proxy to PostgreSQL: `cut()` resets every connection and refuses new ones (a server
 * that went down), `stall()` stops forwarding and accepts new connections without answering
 * them (a server or network that hangs), `restore()` forwards again.
 */
class PostgresProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private mode: 'up' | 'cut' | 'stalled' = 'up';
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  cut(): void {
    this.mode = 'cut';
    this.destroyAll();
  }

  stall(): void {
    this.mode = 'stalled';
  }

  restore(): void {
    // A stalled connection dropped bytes: it cannot be resumed, only replaced.
    if (this.mode === 'stalled') this.destroyAll();
    this.mode = 'up';
  }

  async close(): Promise<void> {
    this.destroyAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private accept(client: Socket): void {
    this.track(client);
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    if (this.mode === 'stalled') return; // accepted, never read, never answered
    const upstream = connect({ host: this.targetHost, port: this.targetPort });
    this.track(upstream);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (this.mode === 'up') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (this.mode === 'up') client.write(chunk);
    });
  }
}

/** A SEND with its own timeout (a stalled store answers only after its timeouts). */
function send(
  client: MessagingClient,
  to: string,
  clientMsgId: string,
  content: unknown,
): Promise<Reply> {
  return client.request(MsgOp.SEND, { to, clientMsgId, content }, 15_000);
}

/** Times a request; resolves with its reply and how long it took. */
async function timed(request: Promise<Reply>): Promise<{ reply: Reply; ms: number }> {
  const started = Date.now();
  const reply = await request;
  return { reply, ms: Date.now() - started };
}

/** Resends the same SEND while it is answered store-unavailable; resolves with its SEND_ACK. */
async function resendUntilAcked(
  client: MessagingClient,
  to: string,
  clientMsgId: string,
  content: unknown,
): Promise<{ reply: Reply; attempts: number }> {
  const deadline = Date.now() + 15_000;
  for (let attempts = 1; ; attempts++) {
    const reply = await send(client, to, clientMsgId, content);
    if (reply.op === SEND_ACK) return { reply, attempts };
    expect(reply.body).toMatchObject({ code: ErrorCode.StoreUnavailable });
    if (Date.now() > deadline) throw new Error(`${clientMsgId} not acked after the restore`);
    await sleep(200);
  }
}

const ackedIds = (client: MessagingClient, prefix: string): string[] =>
  client.conn.frames
    .filter((f) => f.op === SEND_ACK && String(f.body?.clientMsgId).startsWith(prefix))
    .map((f) => String(f.body.clientMsgId));

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('PostgreSQL store outage', () => {
  const database = `longlink_outage_${randomBytes(6).toString('hex')}`;
  const target = new URL(POSTGRES_URL);
  let proxy: PostgresProxy;
  let gw: TestGateway | undefined;

  beforeAll(async () => {
    await sql(POSTGRES_URL, (c) => c.query(`CREATE DATABASE ${database}`));
    proxy = new PostgresProxy(target.hostname, Number(target.port || 5432));
    await proxy.listen();
  });
  afterEach(async () => {
    proxy.restore();
    await gw?.close();
    gw = undefined;
  });
  afterAll(async () => {
    await proxy.close();
    await sql(POSTGRES_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  });

  const start = async () => {
    gw = await startGateway({
      // The SENDs failing at once after the cut come faster than the default packet rate.
      rateLimit: { maxPackets: 1_000_000, kickPackets: 1_000_000 },
      messaging: {
        store: 'postgres',
        postgres: {
          url: urlOf(database, `127.0.0.1:${proxy.port}`),
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
          queryTimeoutMs: QUERY_TIMEOUT_MS,
        },
      },
    });
    return gw;
  };
  /** Copies of one (from, clientMsgId) in the store, read past the proxy. */
  const storedCopies = (from: string, clientMsgId: string) =>
    sql(urlOf(database), async (c) => {
      const { rows } = await c.query<{ n: string }>(
        `SELECT count(*) AS n FROM messages
         WHERE from_uid = convert_to($1, 'UTF8') AND client_msg_id = convert_to($2, 'UTF8')`,
        [from, clientMsgId],
      );
      return Number(rows[0].n);
    });

  it('answers SEND and SYNC store-unavailable at once while PostgreSQL is down, acks nothing falsely, and recovers by itself', async () => {
    const gateway = await start();
    const [alice, bob] = await Promise.all([
      MessagingClient.loggedIn(gateway, 'cut-alice'),
      MessagingClient.loggedIn(gateway, 'cut-bob'),
    ]);
    // Acknowledged before the outage: 20 for bob (online), 10 for carol (offline).
    await alice.sendMany('cut-bob', 20, (i) => ({ before: i }));
    await alice.sendMany('cut-carol', 10, (i) => ({ before: i }));
    await bob.waitForApp(20);

    // PostgreSQL goes down in the middle of a stream of SENDs (transactions in flight).
    const burst = new Map<string, Reply>();
    const lanes = Array.from({ length: BURST_LANES }, async (_, lane) => {
      for (let k = lane; k < BURST; k += BURST_LANES) {
        burst.set(`burst-${k}`, await send(alice, 'cut-bob', `burst-${k}`, { burst: k }));
      }
    });
    await alice.waitUntil(() => ackedIds(alice, 'burst-').length >= BURST / 4, 'first acks');
    proxy.cut();
    await Promise.all(lanes);
    // Each SEND answered: SEND_ACK or store-unavailable, nothing else, no timeout.
    const outcomes = [...burst.values()].map((r) => (r.op === SEND_ACK ? 'ack' : r.body.code));
    expect(new Set(outcomes)).toEqual(new Set(['ack', ErrorCode.StoreUnavailable]));
    const failed = [...burst].filter(([, r]) => r.op !== SEND_ACK).map(([id]) => id);

    const first = await timed(send(alice, 'cut-bob', 'out-1', { during: 1 }));
    expect(first.reply.op).toBe(Op.ERROR);
    expect(first.reply.body.code).toBe(ErrorCode.StoreUnavailable);
    expect(first.ms).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
    // A group of SENDs pipelined in one turn (one batch) fails together, each answered.
    const batch = await Promise.all(
      range(5).map((i) => send(alice, 'cut-bob', `out-b${i}`, { during: i })),
    );
    expect(batch.map((r) => [r.op, r.body.code])).toEqual(
      range(5).map(() => [Op.ERROR, ErrorCode.StoreUnavailable]),
    );
    const sync = await timed(bob.request(MsgOp.SYNC, { lastSeq: bob.lastSeq }, 15_000));
    expect(sync.reply.body.code).toBe(ErrorCode.StoreUnavailable);
    expect(sync.ms).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
    // LOGIN needs no store; carol's inbox cannot be read yet.
    const carol = await MessagingClient.loggedIn(gateway, 'cut-carol');
    // The connections stay open and served.
    const heartbeat = await alice.request(Op.HEARTBEAT);
    expect(heartbeat.op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
    await sleep(300);
    expect([alice.conn.isClosed, bob.conn.isClosed, carol.conn.isClosed]).toEqual([
      false,
      false,
      false,
    ]);
    expect(ackedIds(alice, 'out-')).toEqual([]);
    expect(carol.pushes).toEqual([]);

    proxy.restore();
    const resent = await resendUntilAcked(alice, 'cut-bob', 'out-1', { during: 1 });
    // The pool dropped its dead connections and opens new ones: the first resend is stored.
    expect(resent.attempts).toBe(1);
    for (const i of range(5)) await resendUntilAcked(alice, 'cut-bob', `out-b${i}`, { during: i });
    // The failed SENDs of the burst, resent (some may have been committed all the same).
    for (const id of failed) {
      await resendUntilAcked(alice, 'cut-bob', id, { burst: Number(id.slice('burst-'.length)) });
    }

    // Every message delivered exactly once: what was acked before and during the cut (no
    // false ack), and the resends, with no gap in bob's inbox.
    const total = 20 + BURST + 6;
    await bob.waitForApp(total, 10_000);
    // Carol's inbox is read again by itself once PostgreSQL is back: no SYNC needed.
    await carol.waitForApp(10, 10_000);
    await sleep(300);
    expect(bob.state.seqs()).toEqual(range(total));
    expect(bob.state.gaps).toEqual([]);
    const contents = bob.appSeen.map((m) => JSON.stringify(m.content)).sort();
    const expected = [
      ...range(20).map((i) => ({ before: i - 1 })),
      ...range(BURST).map((k) => ({ burst: k - 1 })),
      { during: 1 },
      ...range(5).map((i) => ({ during: i })),
    ]
      .map((c) => JSON.stringify(c))
      .sort();
    expect(contents).toEqual(expected);
    expect(bob.pushes.filter((m) => m.msgId === resent.reply.body.msgId)).toHaveLength(1);
    expect(carol.state.seqs()).toEqual(range(10));
    expect(await bob.sync()).toBe(total);
    expect(await storedCopies('cut-alice', 'out-1')).toBe(1);
    expect(ackedIds(alice, 'out-').sort()).toEqual(
      ['out-1', ...range(5).map((i) => `out-b${i}`)].sort(),
    );
  });

  it('answers store-unavailable within the timeouts while PostgreSQL hangs, never a hang, and the same SEND is acked once it is back', async () => {
    const gateway = await start();
    const [alice, bob] = await Promise.all([
      MessagingClient.loggedIn(gateway, 'stall-alice'),
      MessagingClient.loggedIn(gateway, 'stall-bob'),
    ]);
    await alice.sendMany('stall-bob', 10, (i) => ({ before: i }));
    await bob.waitForApp(10);

    proxy.stall();
    const stalled = await timed(send(alice, 'stall-bob', 'stall-1', { during: true }));
    expect(stalled.reply.body.code).toBe(ErrorCode.StoreUnavailable);
    expect(stalled.ms).toBeLessThan(
      Math.max(CONNECT_TIMEOUT_MS, CLIENT_QUERY_TIMEOUT_MS) + SLACK_MS,
    );
    const sync = await timed(bob.request(MsgOp.SYNC, { lastSeq: bob.lastSeq }, 15_000));
    expect(sync.reply.body.code).toBe(ErrorCode.StoreUnavailable);
    expect(sync.ms).toBeLessThan(Math.max(CONNECT_TIMEOUT_MS, CLIENT_QUERY_TIMEOUT_MS) + SLACK_MS);
    expect(alice.conn.isClosed).toBe(false);
    expect(ackedIds(alice, 'stall-')).toEqual([]);

    proxy.restore();
    const resent = await resendUntilAcked(alice, 'stall-bob', 'stall-1', { during: true });
    expect(resent.reply.body.seq).toBe(11);
    await bob.waitForApp(11, 10_000);
    await sleep(300);
    expect(bob.state.seqs()).toEqual(range(11));
    expect(bob.pushes.filter((m) => m.msgId === resent.reply.body.msgId)).toHaveLength(1);
    expect(await storedCopies('stall-alice', 'stall-1')).toBe(1);
  });
});

describe('PostgreSQL store unusable at startup', () => {
  const dirs: string[] = [];
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx nest build\` first`);
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** Runs dist/main.js with the PostgreSQL store at `url`; resolves with its exit and output. */
  async function run(url: string): Promise<{ code: number | null; output: string; ms: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'longlink-pg-start-'));
    dirs.push(dir);
    const configFile = join(dir, 'longlink.yaml');
    writeFileSync(
      configFile,
      ['messaging:', '  store: postgres', '  postgres:', '    connectTimeoutMs: 2000', ''].join(
        '\n',
      ),
    );
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LONGLINK_')) env[k] = v;
    Object.assign(env, {
      LONGLINK_CONFIG: configFile,
      LONGLINK_POSTGRES_URL: url,
      LONGLINK_PORT: '0',
      LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
      LONGLINK_DATA_DIR: join(dir, 'data'),
    });
    const started = Date.now();
    const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    return { code, output, ms: Date.now() - started };
  }

  it.each([
    [
      'an unreachable server',
      withPassword(urlOf('longlink_test', '127.0.0.1:1')),
      'cannot connect to',
    ],
    [
      'a database that does not exist',
      withPassword(urlOf(`longlink_absent_${randomBytes(6).toString('hex')}`)),
      'cannot open the message store at',
    ],
  ])(
    'exits 78 naming messaging.postgres.url for %s, without a stack trace or the password',
    async (_what, url, says) => {
      const { code, output, ms } = await run(url);
      expect({ code, output }).toMatchObject({ code: 78 });
      const line = output.split('\n').find((l) => l.includes('messaging.postgres.url'));
      expect(line).toMatch(/^longlink: invalid config: messaging\.postgres\.url: /);
      expect(line).toContain(says);
      expect(output).not.toContain('s3cret');
      expect(output).not.toMatch(/^\s+at /m);
      expect(ms).toBeLessThan(10_000);
    },
  );
});
