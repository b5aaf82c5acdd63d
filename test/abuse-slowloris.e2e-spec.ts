import { Socket, connect } from 'node:net';
import { SessionService } from '../src/session/session.service';
import { LonglinkConnection } from '../src/transport/connection';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

/**
 * Abuse: slowloris. Thousands of connections that never log in are all closed
 * by the login deadline, whatever they send meanwhile (nothing, heartbeats, a
 * LOGIN one byte at a time); logged-in clients that dribble one byte per
 * interval, and so never complete a frame, are closed by the heartbeat timeout
 * (lastTick only advances on complete frames). A logged-in bystander is served
 * throughout.
 */

const LOGIN_TIMEOUT_MS = 1000;
const HEARTBEAT = { intervalMs: 1000, timeoutMs: 3000, sweepIntervalMs: 50 };
/** The server destroys a kicked socket this long after the KICK (docs/PROTOCOL.md §6). */
const CLOSE_GRACE_MS = 1000;
/** Scheduling slack on a shared 2-core machine. */
const SLACK_MS = 1500;
const SLOW_CONNECTIONS = 2000;
const P99_BOUND_MS = 200;

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A raw connection that records the KICK it got and when it closed. */
class SlowClient {
  kick: string | undefined;
  errors: string[] = [];
  loggedIn = false;
  closedAt: number | undefined;
  readonly openedAt = Date.now();
  /** Recorded while open (a closed socket forgets it). */
  readonly localPort: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Socket) {
    this.localPort = socket.localPort!;
    const decoder = new FrameDecoder(
      {
        onFrame: (op, _seq, body) => {
          if (op === Op.KICK) this.kick = JSON.parse(body.toString('utf8')).code;
          else if (op === Op.ERROR) this.errors.push(JSON.parse(body.toString('utf8')).code);
          else if (op === (Op.LOGIN | REPLY_FLAG) >>> 0) this.loggedIn = true;
        },
        onFrameError: (err) => {
          throw err;
        },
      },
      1 << 20,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedAt = Date.now();
      clearInterval(this.timer);
    });
  }

  static open(port: number): Promise<SlowClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new SlowClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Writes `bytes` one byte every `everyMs`, cycling, until the socket closes. */
  dribble(bytes: Buffer, everyMs: number): void {
    let i = 0;
    this.timer = setInterval(() => {
      if (this.socket.destroyed) return;
      this.socket.write(bytes.subarray(i % bytes.length, (i % bytes.length) + 1));
      i++;
    }, everyMs);
  }

  /** Sends whole frames of `frame` every `everyMs` until the socket closes. */
  repeat(frame: Buffer, everyMs: number): void {
    this.timer = setInterval(() => {
      if (!this.socket.destroyed) this.socket.write(frame);
    }, everyMs);
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  destroy(): void {
    clearInterval(this.timer);
    this.socket.destroy();
  }
}

describe('abuse: slowloris', () => {
  let gw: TestGateway;
  let probe: HeartbeatProbe;
  let baseline: LatencyStats;
  const closing: LonglinkConnection[] = [];
  let accepted = 0;
  let clients: SlowClient[] = [];

  beforeAll(async () => {
    gw = await startGateway({
      server: { loginTimeoutMs: LOGIN_TIMEOUT_MS, maxConnectionsPerIp: 10_000 },
      heartbeat: HEARTBEAT,
    });
    gw.server.on('closing', (conn) => closing.push(conn));
    gw.server.on('connection', () => accepted++);
    probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('bystander') });
    baseline = await probe.measure(100, 10);
    // Keeps the bystander alive (and sampled) for the whole spec.
    probe.startBackground(10);
  });

  afterEach(async () => {
    for (const c of clients) c.destroy();
    clients = [];
    await until(() => gw.server.connectionCount === 1, 'only the bystander to be left', 10_000);
  });

  afterAll(async () => {
    probe.close();
    await gw.close();
  });

  /** Starts a new sampling period (the bystander keeps sending heartbeats). */
  async function resetBystander(): Promise<void> {
    await probe.stopBackground();
    probe.startBackground(10);
  }

  /** Bystander round trips since the last call, with the usual assertions. */
  async function bystanderSince(name: string): Promise<void> {
    const during = await probe.stopBackground();
    probe.startBackground(10);
    console.log(
      `[${name}] bystander heartbeat RTT: baseline ${formatStats(baseline)}; during the attack ${formatStats(during)}`,
    );
    expect(probe.missed).toBe(0);
    expect(probe.problems).toEqual([]);
    expect(probe.closed).toBe(false);
    expect(during.p99).toBeLessThan(P99_BOUND_MS);
  }

  it(`closes ${SLOW_CONNECTIONS} connections that never log in at the login deadline, whatever they send meanwhile`, async () => {
    await resetBystander();
    const acceptedBefore = accepted;
    const loginFrame = encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('never-completes') });
    const heartbeat = encodeFrame(Op.HEARTBEAT, 7);
    // In batches, so the accept queue is never the bottleneck.
    for (let i = 0; i < SLOW_CONNECTIONS; i += 200) {
      const batch = await Promise.all(Array.from({ length: 200 }, () => SlowClient.open(gw.port)));
      batch.forEach((c, j) => {
        const kind = (i + j) % 3;
        if (kind === 1) c.repeat(heartbeat, 200); // valid frames do not extend the login deadline
        if (kind === 2) c.dribble(loginFrame, 200); // a LOGIN that never completes in time
      });
      clients.push(...batch);
    }
    const lastOpened = Date.now();
    await until(() => accepted - acceptedBefore === SLOW_CONNECTIONS, 'the server to accept them');

    await until(
      () => clients.every((c) => c.closed),
      'every slow connection to be closed',
      LOGIN_TIMEOUT_MS + CLOSE_GRACE_MS + SLACK_MS + (lastOpened - clients[0].openedAt),
    );
    // Each was kicked with login-timeout (nothing else), no sooner than the deadline.
    const reasons = new Map<string, number>();
    for (const c of clients)
      reasons.set(c.kick ?? 'none', (reasons.get(c.kick ?? 'none') ?? 0) + 1);
    expect(Object.fromEntries(reasons)).toEqual({ 'login-timeout': SLOW_CONNECTIONS });
    const early = clients.filter((c) => c.closedAt! - c.openedAt < LOGIN_TIMEOUT_MS);
    expect(early).toHaveLength(0);
    const late = clients.filter(
      (c) => c.closedAt! - c.openedAt > LOGIN_TIMEOUT_MS + CLOSE_GRACE_MS + SLACK_MS,
    );
    expect(late).toHaveLength(0);
    expect(clients.filter((c) => c.loggedIn)).toHaveLength(0);
    await until(() => gw.server.connectionCount === 1, 'the server to forget them');
    await bystanderSince(`${SLOW_CONNECTIONS} never-login connections`);
  }, 30_000);

  it('closes logged-in clients that send one byte per interval (never a whole frame) by the heartbeat timeout, and keeps a client that sends whole heartbeats', async () => {
    await resetBystander();
    const sessions = gw.app.get(SessionService);
    const closingBefore = closing.length; // ports get reused: only this test's closes count
    const DRIBBLERS = 20;
    const login = async (uid: string) => {
      const c = await SlowClient.open(gw.port);
      c.socket.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token(uid) }));
      await until(() => c.loggedIn, `${uid} to log in`);
      clients.push(c);
      return c;
    };
    const dribblers = await Promise.all(
      Array.from({ length: DRIBBLERS }, (_, i) => login(`dribbler-${i}`)),
    );
    const loggedInAt = Date.now();
    dribblers.forEach((c, i) => {
      // Half dribble heartbeats, half a header announcing a 60 KB frame and then its body.
      const bytes =
        i % 2 === 0
          ? encodeFrame(Op.HEARTBEAT, 9)
          : encodeFrame(Op.HEARTBEAT, 9, `{"pad":"${'p'.repeat(60_000)}"}`);
      c.dribble(bytes, 250); // 16 bytes take 4 s: longer than the 3 s timeout
    });
    const steady = await login('steady');
    steady.repeat(encodeFrame(Op.HEARTBEAT, 11), HEARTBEAT.intervalMs);

    await until(
      () => dribblers.every((c) => c.closed),
      'the dribblers to be closed',
      HEARTBEAT.timeoutMs + CLOSE_GRACE_MS + SLACK_MS + 1000,
    );
    expect(dribblers.map((c) => c.kick)).toEqual(Array(DRIBBLERS).fill('heartbeat-timeout'));
    for (const c of dribblers) {
      const lived = c.closedAt! - loggedInAt;
      expect(lived).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - 200);
      expect(lived).toBeLessThan(HEARTBEAT.timeoutMs + CLOSE_GRACE_MS + SLACK_MS + 500);
    }
    // Their sessions ended with the timeout, not when the socket went away.
    for (let i = 0; i < DRIBBLERS; i++) expect(sessions.isOnline(`dribbler-${i}`)).toBe(false);
    const reasons = closing
      .slice(closingBefore)
      .filter((conn) => dribblers.some((d) => d.localPort === conn.remotePort))
      .map((conn) => conn.closeReason);
    expect(reasons).toEqual(Array(DRIBBLERS).fill('heartbeat-timeout'));
    // The client that sends whole frames at the announced interval is still there.
    expect(steady.closed).toBe(false);
    expect(steady.kick).toBeUndefined();
    expect(sessions.isOnline('steady')).toBe(true);
    await bystanderSince('20 logged-in one-byte-per-250-ms clients');
  }, 30_000);
});
