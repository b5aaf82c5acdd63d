import { Socket, connect } from 'node:net';
import { MsgOp } from '../src/messaging/messaging.ops';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { MessagingClient } from './support/messaging-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

/**
 * Abuse: a PDU flood far over the packet rate limit, from a real attacking
 * client over TCP, while a logged-in bystander keeps sending heartbeats. The
 * flooder is answered rate-limited, then kicked; nothing it sent past the limit
 * is processed; the bystander is answered all along.
 */

// The shipped defaults (config/default.yaml), spelled out.
const INTERVAL_MS = 1000;
const MAX_PACKETS = 200;
const KICK_PACKETS = 400;
/** Generous on purpose: the gateway, the attacker and the probe share one process on 2 cores. */
const P99_BOUND_MS = 200;

/** A raw attacking connection that counts what comes back, by op and code. */
class Flooder {
  replies = 0;
  readonly errors: string[] = [];
  kick: string | undefined;
  closed = false;
  readonly done: Promise<void>;
  /** Ops of every frame received, in order. */
  readonly received: number[] = [];

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(
      {
        onFrame: (op, _seq, body) => {
          this.received.push(op);
          if (op === Op.KICK) this.kick = JSON.parse(body.toString('utf8')).code;
          else if (op === Op.ERROR) this.errors.push(JSON.parse(body.toString('utf8')).code);
          else if (op & REPLY_FLAG) this.replies++;
        },
        onFrameError: (err) => {
          throw err;
        },
      },
      1 << 24,
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    this.done = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static open(port: number, localAddress?: string): Promise<Flooder> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
      socket.once('connect', () => resolve(new Flooder(socket)));
      socket.once('error', reject);
    });
  }
}

describe('abuse: PDU flood far over the rate limit', () => {
  let gw: TestGateway;
  let probe: HeartbeatProbe;
  let baseline: LatencyStats;

  beforeAll(async () => {
    gw = await startGateway({
      rateLimit: { intervalMs: INTERVAL_MS, maxPackets: MAX_PACKETS, kickPackets: KICK_PACKETS },
    });
    probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('bystander') });
    baseline = await probe.measure(100, 10); // 100 frames/s: well under the limit
  });

  afterAll(async () => {
    probe.close();
    await gw.close();
  });

  /** Runs `attack` while the bystander samples heartbeats; asserts it was served throughout. */
  async function duringAttack(name: string, attack: () => Promise<void>): Promise<void> {
    probe.startBackground(10);
    try {
      await attack();
    } finally {
      const during = await probe.stopBackground();
      console.log(
        `[${name}] bystander heartbeat RTT: baseline ${formatStats(baseline)}; during the attack ${formatStats(during)}`,
      );
      expect(probe.missed).toBe(0);
      expect(probe.problems).toEqual([]);
      expect(probe.closed).toBe(false);
      expect(during.count).toBeGreaterThan(5);
      expect(during.p99).toBeLessThan(P99_BOUND_MS);
    }
  }

  it('answers a logged-in flooder rate-limited past maxPackets, kicks it past kickPackets, processes nothing past the limit and loses nothing it acknowledged', async () => {
    const recipient = await MessagingClient.loggedIn(gw, 'flood-recipient');
    const flooder = await Flooder.open(gw.port);
    flooder.socket.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('flooder') }));
    await until(() => flooder.replies === 1, 'the flooder to log in');
    await sleep(INTERVAL_MS + 50); // a fresh rate window starts with the flood
    const FLOOD = 20_000;
    const send = (i: number) =>
      encodeJsonFrame(MsgOp.SEND, 10 + i, {
        to: 'flood-recipient',
        clientMsgId: `f${i}`,
        content: i,
      });

    await duringAttack('logged-in SEND flood', async () => {
      // The allowance first, acknowledged; then 19,800 more in one write.
      flooder.socket.write(Buffer.concat(Array.from({ length: MAX_PACKETS }, (_, i) => send(i))));
      await until(() => flooder.replies === 1 + MAX_PACKETS, 'SEND_ACKs of the allowance');
      flooder.socket.write(
        Buffer.concat(Array.from({ length: FLOOD - MAX_PACKETS }, (_, i) => send(MAX_PACKETS + i))),
      );
      await flooder.done;
      await recipient.waitForApp(MAX_PACKETS, 5000);
      await sleep(300); // nothing more arrives
    });

    expect(flooder.kick).toBe('rate-limited');
    // Frames 201..400 of the window get ERROR rate-limited; frame 401 the KICK, the last frame.
    expect(flooder.errors.length).toBeGreaterThan(0);
    expect(flooder.errors.length).toBeLessThanOrEqual(KICK_PACKETS - MAX_PACKETS);
    expect(new Set(flooder.errors)).toEqual(new Set(['rate-limited']));
    expect(flooder.received[flooder.received.length - 1]).toBe(Op.KICK);
    // Every acknowledged SEND was delivered, once and in order; nothing past the limit was
    // processed (the frames of the read that crossed kickPackets are dropped with the session).
    const contents = recipient.appSeen.map((m) => m.content as number);
    expect(contents.slice(0, MAX_PACKETS)).toEqual(
      Array.from({ length: MAX_PACKETS }, (_, i) => i),
    );
    expect(contents.length).toBeLessThanOrEqual(KICK_PACKETS);
    expect(Math.max(...contents)).toBeLessThan(KICK_PACKETS);
    expect(recipient.appSeen.every((m) => m.from === 'flooder')).toBe(true);
    recipient.close();
    await until(() => gw.server.connectionCount === 1, 'only the bystander to be left');
  });

  it('stops every connection of a sustained flood from many reconnecting clients, while the bystander is served', async () => {
    const LANES = 8;
    const ATTACK_MS = 3000;
    // One pre-encoded flood per write: 20,000 HEARTBEATs (320 KB), 50× the kick threshold.
    const flood = Buffer.concat(
      Array.from({ length: 20_000 }, (_, i) => encodeFrame(Op.HEARTBEAT, i + 1)),
    );
    const stats = {
      connections: 0,
      kicked: 0,
      maxReplies: 0,
      maxRateLimited: 0,
      other: [] as string[],
    };
    await duringAttack('sustained HEARTBEAT flood, 8 reconnecting clients', async () => {
      const stopAt = Date.now() + ATTACK_MS;
      await Promise.all(
        Array.from({ length: LANES }, async () => {
          while (Date.now() < stopAt) {
            const f = await Flooder.open(gw.port);
            stats.connections++;
            f.socket.write(flood);
            await f.done;
            if (f.kick === 'rate-limited') stats.kicked++;
            else stats.other.push(`closed without KICK rate-limited (${f.kick})`);
            stats.maxReplies = Math.max(stats.maxReplies, f.replies);
            const rateLimited = f.errors.filter((c) => c === 'rate-limited').length;
            stats.maxRateLimited = Math.max(stats.maxRateLimited, rateLimited);
            if (rateLimited !== f.errors.length) stats.other.push(`errors ${f.errors.join(',')}`);
          }
        }),
      );
    });
    console.log(
      `[sustained flood] ${stats.connections} flooding connections, ${stats.kicked} kicked`,
    );
    expect(stats.other).toEqual([]);
    expect(stats.kicked).toBe(stats.connections);
    expect(stats.connections).toBeGreaterThanOrEqual(LANES);
    // No connection got more than the limit served, whatever it sent.
    expect(stats.maxReplies).toBeLessThanOrEqual(MAX_PACKETS);
    expect(stats.maxRateLimited).toBeLessThanOrEqual(KICK_PACKETS - MAX_PACKETS);
    await until(() => gw.server.connectionCount === 1, 'the flooders to be gone');
  });

  // The rate limit counts frames, not work: bodies nested past server.maxJsonDepth are refused
  // by a byte scan (bad-json) before anything recurses over them.
  it('keeps serving the bystander while clients send costly (deeply nested) bodies under the rate limit', async () => {
    const ATTACKERS = 4;
    const PER_ATTACKER = 15;
    // As deep as fits in a frame before login (server.maxPreLoginFrameBytes, 8 KiB).
    const depth = 4_000;
    const frame = encodeFrame(Op.LOGIN, 1, `{"token":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const attackers = await Promise.all(
      Array.from({ length: ATTACKERS }, () => Flooder.open(gw.port)),
    );
    const answered = () =>
      attackers.every((a) => a.closed) ||
      attackers.reduce((n, a) => n + a.errors.length + a.replies, 0) >= ATTACKERS * PER_ATTACKER;
    try {
      await duringAttack('deeply nested LOGIN bodies under the rate limit', async () => {
        for (let i = 0; i < PER_ATTACKER; i++) {
          for (const a of attackers) a.socket.write(frame);
          await sleep(10);
        }
        await until(answered, 'answers to the attack (or the attackers gone)', 60_000);
      });
      // Each frame is refused as too deeply nested JSON.
      expect(attackers.flatMap((a) => a.errors).filter((c) => c !== 'bad-json')).toEqual([]);
    } finally {
      await until(answered, 'the backlog to drain', 60_000).catch(() => undefined);
      for (const a of attackers) a.socket.destroy();
    }
  }, 120_000);
});

describe('abuse: a flooder reconnecting for a fresh budget', () => {
  it('bans its IP at accept after rateLimit.maxKicksPerIp kicks; other IPs are served', async () => {
    const gw = await startGateway({
      rateLimit: { maxKicksPerIp: 3, kickWindowMs: 10_000, kickBanMs: 60_000 },
    });
    try {
      const flood = Buffer.concat(
        Array.from({ length: 1000 }, (_, i) => encodeFrame(Op.HEARTBEAT, i + 1)),
      );
      const floodOnce = async () => {
        const f = await Flooder.open(gw.port, '127.0.0.21');
        f.socket.write(flood);
        await f.done;
        return f;
      };
      const kicks: (string | undefined)[] = [];
      for (let i = 0; i < 3; i++) kicks.push((await floodOnce()).kick);
      expect(kicks).toEqual(['rate-limited', 'rate-limited', 'rate-limited']);
      // The third kick banned the address: the next connection is closed at accept, unanswered.
      expect((await floodOnce()).received).toEqual([]);
      const other = await Flooder.open(gw.port, '127.0.0.22');
      other.socket.write(encodeFrame(Op.HEARTBEAT, 1));
      await until(() => other.replies === 1, 'a HEARTBEAT reply from another address');
      other.socket.destroy();
    } finally {
      await gw.close();
    }
  });
});
