import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ExampleModule } from './example/example.module';
import { ExampleOp } from './example/example.ops';
import { ReceivedFrame, TestClient, encodeJsonFrame } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const INTERVAL_MS = 1000;
const MAX_PACKETS = 20;
const KICK_PACKETS = 40;
const UNKNOWN_OP = 4242;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
// retryAfterMs: the ms left in the window (checked exactly in rate-limit-retry.e2e-spec.ts).
const RATE_LIMITED = {
  code: 'rate-limited',
  message: expect.any(String),
  retryAfterMs: expect.any(Number),
};

/** seqs from..to inclusive. */
function seqs(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Sends one frame per seq, all in a single write so they land in one rate window. */
function burst(c: TestClient, op: number, seqList: number[], body?: (seq: number) => unknown) {
  c.sendRaw(Buffer.concat(seqList.map((s) => encodeJsonFrame(op, s, body?.(s)))));
}

function answersTo(c: TestClient, seqList: number[]): Promise<ReceivedFrame[]> {
  return Promise.all(seqList.map((s) => c.waitFor((f) => f.seq === s)));
}

describe('packet rate limit', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(
      {
        rateLimit: { intervalMs: INTERVAL_MS, maxPackets: MAX_PACKETS, kickPackets: KICK_PACKETS },
      },
      [ExampleModule],
    );
  });
  afterAll(() => gw.close());

  /** Logs in, then lets the window that counted the LOGIN run out, so the next frame opens a fresh one. */
  async function loggedInFreshWindow(uid: string): Promise<TestClient> {
    const c = await gw.loggedIn(uid);
    await sleep(INTERVAL_MS + 50);
    return c;
  }

  it('answers frames past maxPackets with ERROR rate-limited and their seq, without dispatching them', async () => {
    const c = await loggedInFreshWindow('flooder');
    burst(c, Op.HEARTBEAT, seqs(1001, 1030));
    const answers = await answersTo(c, seqs(1001, 1030));
    for (const a of answers.slice(0, MAX_PACKETS)) {
      expect(a.op).toBe(HEARTBEAT_REPLY);
    }
    for (const a of answers.slice(MAX_PACKETS)) {
      expect(a.op).toBe(Op.ERROR);
      expect(a.body).toEqual(RATE_LIMITED);
    }
    expect(c.frames.filter((f) => f.op === HEARTBEAT_REPLY)).toHaveLength(MAX_PACKETS);
    expect(c.isClosed).toBe(false);
  });

  it('drops the side effects of rate-limited frames (pokes past the limit are not delivered)', async () => {
    const receiver = await gw.loggedIn('poke-receiver');
    const sender = await loggedInFreshWindow('poke-sender');
    burst(sender, ExampleOp.POKE, seqs(2001, 2025), (s) => ({
      to: 'poke-receiver',
      note: `#${s}`,
    }));
    const answers = await answersTo(sender, seqs(2001, 2025));
    expect(answers.slice(0, MAX_PACKETS).map((a) => a.body)).toEqual(
      Array(MAX_PACKETS).fill({ delivered: true }),
    );
    expect(answers.slice(MAX_PACKETS).map((a) => [a.op, a.body])).toEqual(
      Array(25 - MAX_PACKETS).fill([Op.ERROR, RATE_LIMITED]),
    );
    await receiver.waitFor(() => receiver.frames.length === MAX_PACKETS + 1);
    await sleep(100); // nothing more arrives
    const poked = receiver.frames.filter((f) => f.op === ExampleOp.POKED);
    expect(poked.map((f) => f.body.note)).toEqual(
      seqs(2001, 2000 + MAX_PACKETS).map((s) => `#${s}`),
    );
  });

  it('kicks with KICK rate-limited and closes a client past kickPackets', async () => {
    const c = await loggedInFreshWindow('kicked');
    // Seqs 1001.. (1 was the LOGIN): frame n of the window has seq 1000 + n.
    burst(c, Op.HEARTBEAT, seqs(1001, 1000 + MAX_PACKETS));
    await answersTo(c, seqs(1001, 1000 + MAX_PACKETS));
    // 20 more get ERROR; the 41st frame of the window crosses kickPackets.
    burst(c, Op.HEARTBEAT, seqs(1001 + MAX_PACKETS, 1000 + KICK_PACKETS + 5));
    const kick = await c.waitForOp(Op.KICK);
    await c.waitClosed();
    expect(kick.seq).toBe(0);
    expect(kick.body).toEqual({ code: 'rate-limited', message: expect.any(String) });
    const errors = c.frames.filter((f) => f.op === Op.ERROR);
    expect(errors.map((f) => f.seq)).toEqual(seqs(1001 + MAX_PACKETS, 1000 + KICK_PACKETS));
    for (const e of errors) expect(e.body).toEqual(RATE_LIMITED);
    // The KICK is the last frame: the frames after it are neither answered nor dispatched.
    expect(c.frames[c.frames.length - 1]).toBe(kick);
    expect(c.frames.filter((f) => f.op === HEARTBEAT_REPLY)).toHaveLength(MAX_PACKETS);
  });

  it('counts frames that no handler claims (unknown ops)', async () => {
    const c = await loggedInFreshWindow('unknown-op-flooder');
    burst(c, UNKNOWN_OP, seqs(1001, 1001 + MAX_PACKETS));
    c.sendRaw(encodeFrame(Op.HEARTBEAT, 500));
    const answers = await answersTo(c, [...seqs(1001, 1001 + MAX_PACKETS), 500]);
    expect(answers.slice(0, MAX_PACKETS).map((a) => a.body.code)).toEqual(
      Array(MAX_PACKETS).fill('unknown-op'),
    );
    expect(answers[MAX_PACKETS].body).toEqual(RATE_LIMITED);
    expect(answers[MAX_PACKETS + 1].op).toBe(Op.ERROR);
    expect(answers[MAX_PACKETS + 1].body).toEqual(RATE_LIMITED);
  });

  it('kicks a client that floods unknown ops before logging in', async () => {
    const c = await gw.client();
    burst(c, UNKNOWN_OP, seqs(1, KICK_PACKETS + 1));
    const kick = await c.waitForOp(Op.KICK);
    await c.waitClosed();
    expect(kick.body).toEqual({ code: 'rate-limited', message: expect.any(String) });
    const codes = c.frames.filter((f) => f.op === Op.ERROR).map((f) => f.body.code);
    expect(codes).toEqual([
      ...Array(MAX_PACKETS).fill('not-logged-in'),
      ...Array(KICK_PACKETS - MAX_PACKETS).fill('rate-limited'),
    ]);
  });

  it('starts counting afresh in a new window', async () => {
    const c = await gw.loggedIn('steady');
    // LOGIN + 15 frames in this window, 15 in the next: 31 in all, but never more than 20 per window.
    burst(c, Op.HEARTBEAT, seqs(11, 25));
    await answersTo(c, seqs(11, 25));
    await sleep(INTERVAL_MS + 50);
    burst(c, Op.HEARTBEAT, seqs(26, 40));
    const answers = await answersTo(c, seqs(26, 40));
    expect(answers.every((a) => a.op === HEARTBEAT_REPLY)).toBe(true);
    expect(c.frames.filter((f) => f.op === Op.ERROR)).toEqual([]);
    expect(c.frames.filter((f) => f.op === HEARTBEAT_REPLY)).toHaveLength(30);
  });

  it('limits each connection on its own: a flood does not touch another client', async () => {
    const calm = await gw.loggedIn('calm');
    const loud = await gw.client();
    // The flooder is kicked in the same turn that the calm client uses its whole allowance.
    burst(loud, UNKNOWN_OP, seqs(1, KICK_PACKETS + 10));
    burst(calm, Op.HEARTBEAT, seqs(101, 100 + MAX_PACKETS - 1)); // + LOGIN = maxPackets
    await loud.waitClosed();
    const answers = await answersTo(calm, seqs(101, 100 + MAX_PACKETS - 1));
    expect(answers.every((a) => a.op === HEARTBEAT_REPLY)).toBe(true);
    expect(calm.isClosed).toBe(false);
  });
});
