import { Socket, connect } from 'node:net';
import { ConnectionAccessHook } from '../src/guards/connection-access.hook';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe, LatencyStats, formatStats } from './support/fuzzer';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

/**
 * Abuse: connection floods from one IP, against the per-IP connection cap
 * (server.maxConnectionsPerIp) and the per-IP connect-rate cap
 * (server.maxConnectsPerIpPerWindow per connectRateWindowMs). Attackers connect
 * from their own 127.0.0.x addresses (all of 127.0.0.0/8 is local on Linux), so
 * the specs show that other IPs, and a logged-in bystander on 127.0.0.1, are not
 * affected.
 */

const PER_IP_CAP = 20;
const CONNECTS_PER_WINDOW = 20;
const WINDOW_MS = 1000;
/** Generous on purpose: the gateway, the attackers and the probe share one process on 2 cores. */
const P99_BOUND_MS = 200;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

type Verdict = 'admitted' | 'refused';

/**
 * Connects from `localAddress` and sends a HEARTBEAT: `admitted` when it is
 * answered (the socket is kept open in `sockets`), `refused` when the server
 * closes the socket without sending a byte.
 */
function tryConnect(
  port: number,
  localAddress: string,
  sockets: Socket[],
  timeoutMs = 3000,
): Promise<Verdict> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`neither answered nor closed within ${timeoutMs} ms (${localAddress})`));
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(encodeFrame(Op.HEARTBEAT, 1)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 16) {
        clearTimeout(timer);
        if (received.readUInt32BE(8) !== HEARTBEAT_REPLY) {
          reject(new Error(`unexpected op ${received.readUInt32BE(8)} from the server`));
        }
        sockets.push(socket);
        resolve('admitted');
      }
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (received.length === 0) resolve('refused');
    });
  });
}

function count(verdicts: Verdict[]): Record<Verdict, number> {
  return {
    admitted: verdicts.filter((v) => v === 'admitted').length,
    refused: verdicts.filter((v) => v === 'refused').length,
  };
}

/** A gateway, the bystander on 127.0.0.1 with its baseline, and a helper to measure an attack. */
function withGateway(server: Record<string, number>) {
  const ctx = {} as {
    gw: TestGateway;
    probe: HeartbeatProbe;
    baseline: LatencyStats;
    sockets: Socket[];
    duringAttack: (name: string, attack: () => Promise<void>) => Promise<void>;
  };
  beforeAll(async () => {
    ctx.gw = await startGateway({ server });
    ctx.probe = await HeartbeatProbe.open({
      port: ctx.gw.port,
      token: await ctx.gw.token('bystander'),
      localAddress: '127.0.0.1',
    });
    ctx.baseline = await ctx.probe.measure(100, 10);
    ctx.sockets = [];
    ctx.duringAttack = async (name, attack) => {
      ctx.probe.startBackground(10);
      try {
        await attack();
      } finally {
        const during = await ctx.probe.stopBackground();
        console.log(
          `[${name}] bystander heartbeat RTT: baseline ${formatStats(ctx.baseline)}; during the attack ${formatStats(during)}`,
        );
        expect(ctx.probe.missed).toBe(0);
        expect(ctx.probe.problems).toEqual([]);
        expect(ctx.probe.closed).toBe(false);
        expect(during.p99).toBeLessThan(P99_BOUND_MS);
      }
    };
  });
  afterEach(() => {
    for (const s of ctx.sockets.splice(0)) s.destroy();
  });
  afterAll(async () => {
    ctx.probe.close();
    await ctx.gw.close();
  });
  return ctx;
}

describe('abuse: connection flood from one IP', () => {
  describe(`per-IP connection cap (server.maxConnectionsPerIp ${PER_IP_CAP})`, () => {
    const t = withGateway({ maxConnectionsPerIp: PER_IP_CAP });
    const hook = () => t.gw.app.get(ConnectionAccessHook);

    it('admits maxConnectionsPerIp connections from one IP and closes the rest at accept without a byte; other IPs and the bystander are unaffected', async () => {
      const verdicts: Verdict[] = [];
      const other: Verdict[] = [];
      await t.duringAttack('per-IP cap: 60 connects from 127.0.0.2', async () => {
        // One after another: bind() to an explicit source address is a blocking syscall that
        // can take milliseconds on a busy host, and this process is also the gateway.
        for (let i = 0; i < 60; i++)
          verdicts.push(await tryConnect(t.gw.port, '127.0.0.2', t.sockets));
        for (let i = 0; i < 5; i++) other.push(await tryConnect(t.gw.port, '127.0.0.3', t.sockets));
      });
      expect(count(verdicts)).toEqual({ admitted: PER_IP_CAP, refused: 60 - PER_IP_CAP });
      expect(count(other)).toEqual({ admitted: 5, refused: 0 });
      expect(hook().connectionsFrom('127.0.0.2')).toBe(PER_IP_CAP);
      expect(hook().connectionsFrom('127.0.0.3')).toBe(5);
    });

    it('admits the IP again as its connections close (the cap counts open connections)', async () => {
      const first = await Promise.all(
        Array.from({ length: PER_IP_CAP }, () => tryConnect(t.gw.port, '127.0.0.4', t.sockets)),
      );
      expect(count(first).admitted).toBe(PER_IP_CAP);
      expect(await tryConnect(t.gw.port, '127.0.0.4', t.sockets)).toBe('refused');
      for (const s of t.sockets.splice(0, 5)) s.destroy();
      await until(() => hook().connectionsFrom('127.0.0.4') === PER_IP_CAP - 5, 'closes to count');
      const again = await Promise.all(
        Array.from({ length: 8 }, () => tryConnect(t.gw.port, '127.0.0.4', t.sockets)),
      );
      expect(count(again)).toEqual({ admitted: 5, refused: 3 });
    });

    it('keeps refusing a sustained flood of connects at the cap while the bystander is served', async () => {
      const held = await Promise.all(
        Array.from({ length: PER_IP_CAP }, () => tryConnect(t.gw.port, '127.0.0.5', t.sockets)),
      );
      expect(count(held).admitted).toBe(PER_IP_CAP);
      const tally = { admitted: 0, refused: 0 };
      await t.duringAttack('per-IP cap: sustained connect flood from 127.0.0.5', async () => {
        const stopAt = Date.now() + 2000;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (Date.now() < stopAt) {
              tally[await tryConnect(t.gw.port, '127.0.0.5', t.sockets)]++;
            }
          }),
        );
      });
      console.log(`[per-IP cap] sustained flood: ${tally.refused} connects refused`);
      expect(tally.admitted).toBe(0);
      expect(tally.refused).toBeGreaterThan(50);
      expect(hook().connectionsFrom('127.0.0.5')).toBe(PER_IP_CAP);
    });
  });

  describe(`connect-rate cap (server.maxConnectsPerIpPerWindow ${CONNECTS_PER_WINDOW} per ${WINDOW_MS} ms)`, () => {
    const t = withGateway({
      maxConnectsPerIpPerWindow: CONNECTS_PER_WINDOW,
      connectRateWindowMs: WINDOW_MS,
    });

    /** The connect-rate window starts with the first connect after the previous one ran out. */
    const freshWindow = () => sleep(WINDOW_MS + 50);

    it('refuses connects from one IP past the cap within one window, admits another IP in the same window, and the first again in the next', async () => {
      await freshWindow();
      const burst: Verdict[] = [];
      // One after another, so the order of the connects is the order of the verdicts.
      for (let i = 0; i < 50; i++) burst.push(await tryConnect(t.gw.port, '127.0.0.6', t.sockets));
      const other = await Promise.all(
        Array.from({ length: 10 }, () => tryConnect(t.gw.port, '127.0.0.7', t.sockets)),
      );
      expect(burst).toEqual([
        ...Array(CONNECTS_PER_WINDOW).fill('admitted'),
        ...Array(50 - CONNECTS_PER_WINDOW).fill('refused'),
      ]);
      expect(count(other)).toEqual({ admitted: 10, refused: 0 });
      await freshWindow();
      expect(await tryConnect(t.gw.port, '127.0.0.6', t.sockets)).toBe('admitted');
    });

    it('admits at most the cap per window during a sustained connect-and-close flood, while the bystander is served', async () => {
      await freshWindow();
      const tally = { admitted: 0, refused: 0 };
      const FLOOD_MS = 2500;
      const started = Date.now();
      await t.duringAttack('connect-rate cap: connect-and-close flood from 127.0.0.8', async () => {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (Date.now() - started < FLOOD_MS) {
              const sockets: Socket[] = [];
              tally[await tryConnect(t.gw.port, '127.0.0.8', sockets)]++;
              for (const s of sockets) s.destroy(); // hang up at once: only the rate cap applies
            }
          }),
        );
      });
      const windows = Math.ceil((Date.now() - started) / WINDOW_MS) + 1;
      console.log(
        `[connect-rate cap] sustained flood: ${tally.admitted} admitted, ${tally.refused} refused over ≤ ${windows} windows`,
      );
      expect(tally.refused).toBeGreaterThan(tally.admitted);
      expect(tally.admitted).toBeGreaterThanOrEqual(CONNECTS_PER_WINDOW);
      expect(tally.admitted).toBeLessThanOrEqual(CONNECTS_PER_WINDOW * windows);
      // Another IP is still admitted while 127.0.0.8 is over its cap.
      expect(await tryConnect(t.gw.port, '127.0.0.9', t.sockets)).toBe('admitted');
    });
  });
});
