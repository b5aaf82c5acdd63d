import { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.loader';
import { sleep } from '../../test/support/wait';
import { freePort, launchServer, stopServer, waitForPort } from '../support/process';
import { GatewayLimits, trustedProxyAddresses } from './phases';

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'main.js');

/**
 * The keys changed from config/default.yaml: every shipped limit stays as it is;
 * added is a per-user SEND bucket (off by default), as docs/SECURITY.md recommends
 * turning on, at a rate above the bystanders' (--rate / --pairs SENDs/s each);
 * and the PROXY protocol (auto), believed only from the proxied-guesser phase's
 * balancer: every other peer is an ordinary client, checked as without it.
 */
const CONFIG = `# Written by bench/abuse/abuse.ts. Only the store, the log level and one per-user
# limit differ from config/default.yaml: every shipped abuse limit is what is measured.
# PROXY headers are optional, and believed only from the proxied-guesser phase's balancer.
server:
  proxyProtocol: auto
  trustedProxies: [${trustedProxyAddresses().join(', ')}]
messaging:
  store: memory
limits:
  rules:
    - { name: send-per-user, per: user, ops: [SEND], ratePerSecond: 100, burst: 200 }
log:
  level: warn
`;

/**
 * Preloaded into the gateway (-r): its event-loop delay, so a report can tell the
 * gateway's own stalls from the measuring process's. On SIGUSR2 it writes the
 * percentiles since the previous signal to LONGLINK_ABUSE_LOOP_FILE and starts
 * over. A 10 ms timer: 100 wakeups a second, next to the bystanders' 600 frames.
 */
const LOOP_PROBE = `const { monitorEventLoopDelay } = require('node:perf_hooks');
const { renameSync, writeFileSync } = require('node:fs');
const file = process.env.LONGLINK_ABUSE_LOOP_FILE;
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
let seq = 0;
process.on('SIGUSR2', () => {
  // The histogram holds whole timer intervals: lateness is what exceeds the 10 ms resolution.
  const ms = (ns) => Math.max(0, ns / 1e6 - 10);
  const out = { seq: ++seq, count: h.count, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)),
    p999: ms(h.percentile(99.9)), max: ms(h.max) };
  h.reset();
  writeFileSync(file + '.tmp', JSON.stringify(out));
  renameSync(file + '.tmp', file);
});
`;

/** Event-loop delay of the gateway over a phase: how late (ms) a 10 ms timer fired. */
export interface LoopDelay {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Variables the gateway reads; the ones not set here are blanked, so the caller's shell cannot change a limit. */
const BLANKED = ['LONGLINK_HOST', 'LONGLINK_MAX_FRAME_BYTES', 'LONGLINK_HEARTBEAT_INTERVAL_MS'];

export interface Gateway {
  child: ChildProcess;
  pid: number;
  port: number;
  secret: string;
  limits: GatewayLimits;
  /** VmRSS in bytes (NaN once gone). */
  rss(): number;
  alive(): boolean;
  /** The gateway's event-loop delay since the previous call. */
  loopDelay(): Promise<LoopDelay | undefined>;
  stop(): Promise<void>;
}

function readLoopFile(file: string): (LoopDelay & { seq: number }) | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LoopDelay & { seq: number };
  } catch {
    return undefined;
  }
}

/** `node [nodeFlags] dist/main.js` on CPU 1 (when there are two cores), memory store, shipped limits. */
export async function startGateway(nodeFlags: string[] = []): Promise<Gateway> {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: run \`npm run build\` first, or pass --build`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'longlink-abuse-'));
  const configFile = join(dir, 'abuse.yaml');
  writeFileSync(configFile, CONFIG);
  const probeFile = join(dir, 'loop-probe.cjs');
  writeFileSync(probeFile, LOOP_PROBE);
  const loopFile = join(dir, 'loop-delay.json');
  const port = await freePort();
  const secret = randomBytes(24).toString('hex');
  const env: Record<string, string> = {
    LONGLINK_CONFIG: configFile,
    LONGLINK_PORT: String(port),
    LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
    LONGLINK_JWT_SECRET: secret,
    LONGLINK_DATA_DIR: join(dir, 'data'),
    LONGLINK_LOG_LEVEL: 'warn',
    LONGLINK_ABUSE_LOOP_FILE: loopFile,
  };
  for (const name of BLANKED) env[name] = '';
  // The same file and variables the child reads: its limits, as the attacks need them.
  const config = loadConfig({ env });
  const child = launchServer([...nodeFlags, '-r', probeFile, MAIN], env);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`the gateway exited with ${child.exitCode} at startup`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const { server, auth, heartbeat, rateLimit, messaging, limits } = config;
  const sendPerUser = limits.rules.find((r) => r.name === 'send-per-user') ?? null;
  return {
    child,
    pid: child.pid!,
    port,
    secret,
    limits: {
      maxFrameBytes: server.maxFrameBytes,
      maxPreLoginFrameBytes: server.maxPreLoginFrameBytes,
      maxJsonItems: server.maxJsonItems,
      maxWriteBufferBytes: server.maxWriteBufferBytes,
      loginTimeoutMs: server.loginTimeoutMs,
      maxConnectionsPerIp: server.maxConnectionsPerIp,
      maxConnectsPerIpPerWindow: server.maxConnectsPerIpPerWindow,
      connectRateWindowMs: server.connectRateWindowMs,
      maxFailedLogins: auth.maxFailedLogins,
      failedLoginBanMs: auth.failedLoginBanMs,
      heartbeatTimeoutMs: heartbeat.timeoutMs ?? 3 * heartbeat.intervalMs,
      heartbeatSweepMs: heartbeat.sweepIntervalMs,
      rateIntervalMs: rateLimit.intervalMs,
      maxPackets: rateLimit.maxPackets,
      kickPackets: rateLimit.kickPackets,
      pushWindow: messaging.pushWindow,
      ackTimeoutMs: messaging.ackTimeoutMs,
      sendPerUser: sendPerUser && {
        ratePerSecond: sendPerUser.ratePerSecond,
        burst: sendPerUser.burst,
      },
    },
    rss: () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m ? Number(m[1]) * 1024 : NaN;
      } catch {
        return NaN;
      }
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    loopDelay: async () => {
      const before = readLoopFile(loopFile)?.seq ?? 0;
      child.kill('SIGUSR2');
      for (const until = Date.now() + 2000; Date.now() < until; await sleep(5)) {
        const now = readLoopFile(loopFile);
        if (now && now.seq > before) return now;
      }
      return undefined;
    },
    stop: async () => {
      // SIGINT drains (up to server.drainTimeoutMs); a gateway that hangs is killed.
      const killer = setTimeout(() => child.kill('SIGKILL'), config.server.drainTimeoutMs + 10_000);
      await stopServer(child);
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
