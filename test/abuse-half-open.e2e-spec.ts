import { Socket, connect } from 'node:net';
import { SessionService } from '../src/session/session.service';
import { LonglinkConnection } from '../src/transport/connection';
import { FrameDecoder, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { MessagingClient } from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

/**
 * Abuse: half-open connections. A peer that vanished without FIN or RST (a
 * cable pulled, a NAT entry dropped, a process frozen) looks alive to TCP; only
 * the heartbeat timeout catches it. Its session must end, and what was sent to
 * it meanwhile must wait for its next login. A peer that half-closes (FIN) ends
 * its session at once.
 */

const HEARTBEAT = { intervalMs: 300, timeoutMs: 900, sweepIntervalMs: 50 };
/** The server destroys a kicked socket this long after the KICK. */
const CLOSE_GRACE_MS = 1000;
const SLACK_MS = 1000;
const P99_BOUND_MS = 200;

describe('abuse: half-open connections', () => {
  let gw: TestGateway;
  let sessions: SessionService;
  let probe: HeartbeatProbe;
  let baseline: LatencyStats;
  const logouts: { uid: string; reason: string; at: number }[] = [];
  const closing: LonglinkConnection[] = [];
  const disconnected: LonglinkConnection[] = [];

  beforeAll(async () => {
    gw = await startGateway({ heartbeat: HEARTBEAT });
    sessions = gw.app.get(SessionService);
    sessions.logouts$.subscribe(({ user, reason }) =>
      logouts.push({ uid: user.uid, reason, at: Date.now() }),
    );
    gw.server.on('closing', (conn) => closing.push(conn));
    gw.server.on('disconnect', (conn) => disconnected.push(conn));
    probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('bystander') });
    baseline = await probe.measure(100, 10);
    probe.startBackground(10); // also keeps the bystander inside its own heartbeat timeout
  });

  afterAll(async () => {
    probe.close();
    await gw.close();
  });

  /** The server-side connection of a logged-in user. */
  const connectionOf = (uid: string) => {
    const conn = sessions.find(uid);
    expect(conn).toBeDefined();
    return conn!;
  };

  it('kicks a logged-in peer that went silent without FIN (it neither sends nor reads) with heartbeat-timeout, ends its session and frees the socket', async () => {
    const ghost = await MessagingClient.loggedIn(gw, 'ghost');
    const conn = connectionOf('ghost');
    const silentSince = Date.now();
    ghost.conn.socket.pause(); // a vanished peer: the socket stays open, nothing moves

    await until(
      () => closing.includes(conn),
      'the server to give up on it',
      HEARTBEAT.timeoutMs + SLACK_MS,
    );
    const gaveUpAfter = Date.now() - silentSince;
    expect(conn.closeReason).toBe('heartbeat-timeout');
    expect(gaveUpAfter).toBeGreaterThanOrEqual(HEARTBEAT.timeoutMs - HEARTBEAT.sweepIntervalMs);
    // The session ended at the kick, not when the socket finally went away.
    expect(sessions.isOnline('ghost')).toBe(false);
    expect(logouts.filter((l) => l.uid === 'ghost').map((l) => l.reason)).toEqual([
      'heartbeat-timeout',
    ]);
    // The socket is released even though the peer never reads its KICK.
    await until(
      () => disconnected.includes(conn),
      'the socket to be destroyed',
      CLOSE_GRACE_MS + SLACK_MS,
    );
    expect(gw.server.connectionCount).toBe(1);
    // Had it been alive, it would find the KICK as the last frame of the stream.
    ghost.conn.socket.resume();
    await ghost.conn.waitClosed();
    expect(ghost.kick).toEqual({ code: 'heartbeat-timeout', message: expect.any(String) });
  });

  it('keeps the messages sent to a silent peer and delivers each once at its next login', async () => {
    const ghost = await MessagingClient.loggedIn(gw, 'ghost-2', { autoAck: false });
    const conn = connectionOf('ghost-2');
    ghost.conn.socket.pause();
    const sender = await MessagingClient.loggedIn(gw, 'sender-2');
    // Pushed into a dead connection: written to the socket, never acknowledged.
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await sender.send('ghost-2', { n: i }));
    await until(
      () => closing.includes(conn),
      'the heartbeat timeout',
      HEARTBEAT.timeoutMs + SLACK_MS,
    );
    expect(conn.closeReason).toBe('heartbeat-timeout');
    ghost.close();

    // It comes back with what it held (nothing it ever processed) and gets every message once.
    const back = await MessagingClient.loggedIn(gw, 'ghost-2', { lastSeq: 0 });
    await back.waitForApp(5);
    await sleep(100);
    expect(back.appSeen.map((m) => m.msgId)).toEqual(acks.map((a) => a.msgId));
    expect(back.appSeen.map((m) => m.content)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
    expect(back.pushes).toHaveLength(5);
    sender.close();
    back.close();
  });

  it('kicks a peer that keeps reading but never sends (pushes to it do not count as liveness)', async () => {
    const reader = await MessagingClient.loggedIn(gw, 'reader');
    const conn = connectionOf('reader');
    const sender = await MessagingClient.loggedIn(gw, 'sender-3');
    const started = Date.now();
    // The server keeps writing to it; it reads and acks nothing... and sends nothing at all.
    reader.autoAck = false;
    while (!closing.includes(conn) && Date.now() - started < HEARTBEAT.timeoutMs + SLACK_MS) {
      await sender.send('reader', 'ping');
      await sleep(50);
    }
    expect(conn.closeReason).toBe('heartbeat-timeout');
    await reader.conn.waitClosed(CLOSE_GRACE_MS + SLACK_MS);
    expect(reader.kick).toEqual({ code: 'heartbeat-timeout', message: expect.any(String) });
    expect(reader.pushes.length).toBeGreaterThan(0);
    expect(sessions.isOnline('reader')).toBe(false);
    sender.close();
  });

  it('ends the session at once when the peer half-closes (FIN), without waiting for the timeout', async () => {
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect({ port: gw.port, host: '127.0.0.1', allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const frames: number[] = [];
    const decoder = new FrameDecoder(
      {
        onFrame: (op) => frames.push(op),
        onFrameError: (e) => {
          throw e;
        },
      },
      1 << 20,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    socket.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('half-closer') }));
    await until(() => frames.includes((Op.LOGIN | REPLY_FLAG) >>> 0), 'login');
    const conn = connectionOf('half-closer');
    const finAt = Date.now();
    socket.end(); // FIN: no more requests, but still reading

    await until(() => closing.includes(conn), 'the session to end', HEARTBEAT.timeoutMs);
    expect(Date.now() - finAt).toBeLessThan(HEARTBEAT.timeoutMs);
    expect(conn.closeReason).toBe('peer-closed');
    expect(sessions.isOnline('half-closer')).toBe(false);
    // The server closes its side too.
    await Promise.race([ended, sleep(2000)]);
    await until(() => disconnected.includes(conn), 'the server to close');
    socket.destroy();
  });

  it('served the logged-in bystander all along (runs last)', async () => {
    const during = await probe.stopBackground();
    console.log(
      `[half-open] bystander heartbeat RTT: baseline ${formatStats(baseline)}; during the spec ${formatStats(during)}`,
    );
    expect(probe.missed).toBe(0);
    expect(probe.problems).toEqual([]);
    expect(probe.closed).toBe(false);
    expect(during.p99).toBeLessThan(P99_BOUND_MS);
  });
});
