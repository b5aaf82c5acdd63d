import { SessionService } from '../src/session/session.service';
import { LonglinkConnection } from '../src/transport/connection';
import { Op } from '../src/transport/ops';
import { HeartbeatProbe, formatStats } from './support/fuzzer';
import { InboxState, MessagingClient, SendAckBody } from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

/**
 * Abuse: a recipient that never reads. MSG pushes alone are bounded by
 * messaging.pushWindow (un-acked pushes per connection); the application's other
 * pushes are not, so they pile up in the server's write buffer until
 * server.maxWriteBufferBytes; then it is disconnected (no PDU: write-buffer-full).
 * Everything acknowledged to the sender stays stored, and at its next login with
 * lastSeq it receives each message once, in order. The sender and a bystander are
 * served throughout.
 */

const MAX_WRITE_BUFFER_BYTES = 64 * 1024;
/** At most this many un-acked MSG pushes per connection: 32 × ~1 KB per turn, under the cap. */
const PUSH_WINDOW = 32;
const CONTENT = 'c'.repeat(1000);
/** An application push (presence, typing…) the gateway sends the user besides messages. */
const APP_PUSH_OP = 1003;
const APP_PUSH_BODY = { blob: 'b'.repeat(8 * 1024) };
/** Give up long before "unbounded": far more than any loopback socket buffers can take. */
const GIVE_UP_AFTER_BYTES = 256 * 1024 * 1024;
const P99_BOUND_MS = 200;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('abuse: a recipient that never reads', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      server: { maxWriteBufferBytes: MAX_WRITE_BUFFER_BYTES },
      messaging: { pushWindow: PUSH_WINDOW },
      rateLimit: { maxPackets: 1_000_000, kickPackets: 1_000_000 },
    });
  });
  afterAll(() => gw.close());

  it('disconnects it at the write-buffer cap without a PDU, and its next login with lastSeq delivers every acknowledged message once, in order', async () => {
    const sessions = gw.app.get(SessionService);
    const closing: LonglinkConnection[] = [];
    gw.server.on('closing', (conn) => closing.push(conn));
    const probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('bystander') });
    const baseline = await probe.measure(100, 5);

    // The application state of the recipient, kept across its connections.
    const state = new InboxState();
    const sloth = await MessagingClient.loggedIn(gw, 'sloth', { state, autoAck: false });
    const slothConn = sessions.find('sloth')!;
    sloth.conn.socket.pause(); // never reads again
    const sender = await MessagingClient.loggedIn(gw, 'sender');
    const content = (i: number) => `${i}:${CONTENT}`;

    probe.startBackground(10);
    // Messages: stored, acknowledged, pushed (at most PUSH_WINDOW un-acked).
    const acks: SendAckBody[] = await sender.sendMany('sloth', 100, content, 16);
    // The application's other pushes pile up: 4 × 8 KB per turn, until the server gives up.
    let pushedBytes = 0;
    let maxHeld = 0;
    while (sessions.push('sloth', APP_PUSH_OP, APP_PUSH_BODY)) {
      pushedBytes += APP_PUSH_BODY.blob.length;
      if (pushedBytes > GIVE_UP_AFTER_BYTES) throw new Error('the recipient was never dropped');
      if (pushedBytes % (4 * APP_PUSH_BODY.blob.length) === 0) {
        await nextTurn();
        maxHeld = Math.max(maxHeld, slothConn.socket.writableLength);
      }
    }
    // More messages while it is away: stored for later.
    acks.push(...(await sender.sendMany('sloth', 50, (i) => content(100 + i), 16)));
    const during = await probe.stopBackground();
    console.log(
      `[never reads] dropped after ~${Math.round(pushedBytes / 1048576)} MiB of pushes; bystander heartbeat RTT: baseline ${formatStats(baseline)}; during ${formatStats(during)}`,
    );

    // Dropped for not reading: no KICK, nothing queued for it any more, the session over.
    expect(closing).toContain(slothConn);
    expect(slothConn.closeReason).toBe('write-buffer-full');
    expect(slothConn.socket.destroyed).toBe(true);
    expect(maxHeld).toBeLessThanOrEqual(MAX_WRITE_BUFFER_BYTES);
    expect(sessions.isOnline('sloth')).toBe(false);
    // Everyone else was served: every SEND acknowledged, the bystander answered.
    expect(acks.map((a) => a.seq)).toEqual(acks.map((_, i) => i + 1));
    expect(probe.missed).toBe(0);
    expect(during.p99).toBeLessThan(P99_BOUND_MS);

    // When it reads again it finds what reached its socket, then the end of the stream: no KICK.
    sloth.conn.socket.resume();
    await sloth.conn.waitClosed(5000);
    expect(sloth.kick).toBeUndefined();
    expect(sloth.conn.frames.filter((f) => f.op === Op.KICK || f.op === Op.ERROR)).toEqual([]);
    const held = state.lastSeq;
    expect(held).toBeLessThanOrEqual(PUSH_WINDOW);
    expect(state.gaps).toEqual([]);

    // Its next login says what it holds; the rest arrives, each once, in order.
    const back = await MessagingClient.loggedIn(gw, 'sloth', { state, lastSeq: held });
    await back.waitForApp(acks.length, 10_000);
    await sleep(100);
    expect(back.pushSeqs()[0]).toBe(held + 1);
    expect(back.pushes).toHaveLength(acks.length - held);
    expect(state.appSeen.map((m) => m.msgId)).toEqual(acks.map((a) => a.msgId));
    expect(state.appSeen.map((m) => m.content)).toEqual(acks.map((_, i) => content(i)));
    expect(state.gaps).toEqual([]);
    probe.close();
    sender.close();
    back.close();
  }, 60_000);
});

describe('a recipient that reads, with a backlog of large messages (shipped defaults)', () => {
  let gw: TestGateway;
  // The defaults: maxFrameBytes 64 KiB, maxWriteBufferBytes 1 MiB, pushWindow 64.
  beforeAll(async () => {
    gw = await startGateway({});
  });
  afterAll(() => gw.close());

  // Inbox pushes pause while the connection's write buffer is over half the cap.
  it('delivers a backlog of pushWindow messages of 60 KB to a reading client without dropping it', async () => {
    const sessions = gw.app.get(SessionService);
    const closing: LonglinkConnection[] = [];
    gw.server.on('closing', (conn) => closing.push(conn));
    const sender = await MessagingClient.loggedIn(gw, 'big-sender');
    const big = (i: number) => `${i}:${'x'.repeat(60_000)}`;
    const acks = await sender.sendMany('big-reader', 64, big, 8);
    expect(acks).toHaveLength(64);

    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const reader = await MessagingClient.connect(gw);
      const port = reader.conn.socket.localPort;
      try {
        await reader.login(await gw.token('big-reader'));
        await reader.waitForApp(64, 5000);
        outcomes.push(`received ${reader.appSeen.length}`);
        reader.close();
        break;
      } catch {
        const conn = closing.find((c) => c.remotePort === port);
        outcomes.push(
          `dropped: ${conn?.closeReason ?? (reader.conn.isClosed ? 'closed' : 'no answer')}`,
        );
        reader.close();
      }
    }
    expect(outcomes).toEqual(['received 64']);
    // The reader closed its socket; the server sees the FIN a moment later.
    for (let i = 0; i < 100 && sessions.isOnline('big-reader'); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sessions.isOnline('big-reader')).toBe(false);
    sender.close();
  }, 30_000);
});
