import { SessionService } from '../src/session/session.service';
import { LonglinkConnection } from '../src/transport/connection';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ExampleModule } from './example/example.module';
import { ExampleOp } from './example/example.ops';
import { TestClient, encodeJsonFrame } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { until } from './support/wait';

const MAX_WRITE_BUFFER_BYTES = 64 * 1024;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const POKE_REPLY = (ExampleOp.POKE | REPLY_FLAG) >>> 0;
/** Give up long before "unbounded": far more than any loopback socket buffers can take. */
const GIVE_UP_AFTER_BYTES = 256 * 1024 * 1024;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('a client that stops reading (server.maxWriteBufferBytes 64 KiB)', () => {
  let gw: TestGateway;
  let sessions: SessionService;
  const disconnected: LonglinkConnection[] = [];

  beforeAll(async () => {
    gw = await startGateway(
      {
        server: { maxWriteBufferBytes: MAX_WRITE_BUFFER_BYTES },
        // The pusher sends pokes as fast as it can; only the write buffer is under test here.
        rateLimit: { maxPackets: 1_000_000, kickPackets: 1_000_000 },
      },
      [ExampleModule],
    );
    sessions = gw.app.get(SessionService);
    gw.server.on('disconnect', (conn) => disconnected.push(conn));
  });
  afterAll(() => gw.close());

  /** A logged-in client whose socket no longer reads, and its server-side connection. */
  async function stalled(uid: string): Promise<{ client: TestClient; conn: LonglinkConnection }> {
    const client = await gw.loggedIn(uid);
    const conn = sessions.find(uid)!;
    expect(conn).toBeDefined();
    client.socket.pause();
    return { client, conn };
  }

  /** Unsent bytes the server holds for `conn` (sampled after a flush, so the queue is empty). */
  const heldBytes = (conn: LonglinkConnection) => conn.socket.writableLength;

  async function expectDroppedForWriteBufferFull(
    uid: string,
    client: TestClient,
    conn: LonglinkConnection,
  ) {
    expect(disconnected).toContain(conn);
    expect(conn.closeReason).toBe('write-buffer-full');
    expect(conn.socket.destroyed).toBe(true);
    expect(heldBytes(conn)).toBe(0);
    // The session is over, so later pushes find nobody.
    expect(sessions.isOnline(uid)).toBe(false);
    // Once it reads again, the client sees the server's close.
    client.socket.resume();
    await client.waitClosed(5000);
  }

  it('disconnects a client that stops reading while pokes pile up for it', async () => {
    const { client: victim, conn } = await stalled('slow-reader');
    // Same load, but it keeps reading: it must not be dropped.
    const reader = await gw.loggedIn('fast-reader');
    const pusher = await gw.loggedIn('fast-poker');
    const note = 'n'.repeat(140);
    // Per write: 60 pokes to the stalled client (~11 KiB of pushes, well under the limit in
    // one turn, so only its not reading can fill the buffer) and 6 to the reading one.
    const perBatch = 60;
    const toSlow: number[] = [];
    const toFast: number[] = [];
    let seq = 1_000_000;
    let batches = 0;
    let maxHeld = 0;
    while (!disconnected.includes(conn)) {
      if (toSlow.length * 200 > GIVE_UP_AFTER_BYTES) throw new Error('never disconnected');
      const frames: Buffer[] = [];
      for (let i = 0; i < perBatch; i++) {
        const to = i % 10 === 0 ? 'fast-reader' : 'slow-reader';
        (to === 'fast-reader' ? toFast : toSlow).push(seq);
        frames.push(encodeJsonFrame(ExampleOp.POKE, seq++, { to, note }));
      }
      pusher.sendRaw(Buffer.concat(frames));
      batches++;
      // Wait for the answers so the pusher itself keeps reading and batches stay apart.
      await pusher.waitFor((f) => f.seq === seq - 1, 5000);
      maxHeld = Math.max(maxHeld, heldBytes(conn));
    }
    expect(batches).toBeGreaterThan(1);
    expect(maxHeld).toBeLessThanOrEqual(MAX_WRITE_BUFFER_BYTES);
    await expectDroppedForWriteBufferFull('slow-reader', victim, conn);

    // The pusher was never disturbed: every poke was answered.
    const answers = pusher.frames.filter((f) => f.seq >= 1_000_000);
    expect(answers).toHaveLength(perBatch * batches);
    expect(answers.every((f) => f.op === POKE_REPLY)).toBe(true);
    expect(answers.find((f) => f.seq === toSlow[0])!.body).toEqual({ delivered: true });
    const after = await pusher.request(ExampleOp.POKE, { to: 'slow-reader', note });
    expect(after.body).toEqual({ delivered: false });
    expect((await pusher.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(pusher.isClosed).toBe(false);

    // The reading receiver got every poke addressed to it and is still online.
    const fastSeqs = new Set(toFast);
    const toReader = answers.filter((f) => fastSeqs.has(f.seq));
    expect(toReader).toHaveLength(toFast.length);
    expect(toReader.every((f) => f.body.delivered === true)).toBe(true);
    await reader.waitFor(
      () => reader.frames.filter((f) => f.op === ExampleOp.POKED).length === toFast.length,
      5000,
    );
    expect(reader.isClosed).toBe(false);
    expect(sessions.isOnline('fast-reader')).toBe(true);
  }, 60_000);

  it('disconnects a stalled client under direct pushes, holding at most maxWriteBufferBytes for it', async () => {
    const { client: victim, conn } = await stalled('stalled');
    const bystander = await gw.loggedIn('bystander');
    const body = { blob: 'b'.repeat(8 * 1024) }; // 4 per turn: 32 KiB, half the limit
    let pushedBytes = 0;
    let maxHeld = 0;
    let turns = 0;
    while (sessions.push('stalled', ExampleOp.POKED, body)) {
      pushedBytes += 8 * 1024;
      if (pushedBytes > GIVE_UP_AFTER_BYTES) throw new Error('never disconnected');
      if (pushedBytes % (32 * 1024) === 0) {
        await nextTurn();
        turns++;
        maxHeld = Math.max(maxHeld, heldBytes(conn));
        if (turns % 50 === 0) {
          // The other user is served all along.
          expect((await bystander.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
        }
      }
    }
    await until(() => disconnected.includes(conn), 'the server-side close');
    expect(maxHeld).toBeLessThanOrEqual(MAX_WRITE_BUFFER_BYTES);
    await expectDroppedForWriteBufferFull('stalled', victim, conn);
    expect((await bystander.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(bystander.isClosed).toBe(false);
    // It was dropped once the socket buffers had filled, not for the first pushes.
    expect(pushedBytes).toBeGreaterThan(2 * MAX_WRITE_BUFFER_BYTES);
  });
});
