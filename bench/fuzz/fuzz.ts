/**
 * The longlink protocol fuzzer, standalone.
 *
 *   npm run fuzz -- --frames 10000000 [--connections 64] [--seed 1234]
 *   npm run fuzz -- --port 7400 [--host 127.0.0.1] [--secret …] [--pid <gateway pid>]
 *
 * Without --port it starts a gateway itself, as a child process from the build
 * (`node dist/main.js`; run `npm run build` first, or pass --build): tsx, which
 * runs this script, cannot emit the decorator metadata Nest's dependency
 * injection needs, so the gateway cannot run in this process. The child gets
 * the memory store, and the per-connection rate limit, the per-IP connect-rate
 * cap and the failed-login ban lifted: otherwise almost every frame would be
 * answered rate-limited or refused at accept instead of reaching the decoder,
 * the parsers, the validators and the handlers (those limits have their own
 * specs, test/abuse-*.e2e-spec.ts). Frame size, write-buffer, login and heartbeat
 * limits stay at their defaults. With --port, the target keeps its own limits.
 *
 * Before fuzzing it measures a well-behaved client's heartbeat round trips and
 * the gateway's memory; afterwards it checks that the gateway is alive, serves
 * that client with normal latency (p99 within +20% of the baseline, +1 ms for
 * timer noise), and that its heap after a full GC and its RSS are back near the
 * baseline. It prints what it tried, what came back, and every failure with the
 * seed that reproduces it. Exit code 0 when nothing failed, 1 otherwise, 2 on
 * usage errors.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mintToken } from '../../src/auth/token.factory';
import { freePort } from '../support/process';
import {
  FuzzReport,
  HeartbeatProbe,
  LatencyStats,
  formatFuzzReport,
  formatStats,
  parseDocumentedCodes,
  runFuzz,
} from '../../test/support/fuzzer';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const DEV_SECRET = 'longlink-development-secret-change-me';
const MiB = 1024 * 1024;
/** Heap the gateway may keep after the run and a full GC (stored messages, caches). */
const MAX_HEAP_GROWTH = 48 * MiB;
/** RSS is coarser (the allocator keeps freed pages): this much over the baseline is "near". */
const MAX_RSS_GROWTH = 128 * MiB;

const USAGE = `usage: npm run fuzz -- [--frames N] [--connections C] [--seed S]
                       [--port P [--host H] [--secret JWT_SECRET] [--pid GATEWAY_PID] [--max-frame-bytes B]]
                       [--store memory|sqlite] [--build] [--json FILE]
  --frames N          frames to send in all (default 100000)
  --connections C     concurrent connections, each reconnecting when closed (default 64)
  --seed S            PRNG seed (default: random, printed); the same seed sends the same frames
  --port P            fuzz a running gateway instead of starting one (its limits apply)
  --host H            its address (default 127.0.0.1)
  --secret S          its auth.jwtSecret, to mint valid logins (default LONGLINK_JWT_SECRET or the dev secret)
  --pid PID           its process id, to check its RSS (Linux /proc)
  --max-frame-bytes B its server.maxFrameBytes (default 65536)
  --store S           store of the gateway started here (default memory)
  --build             run \`nest build\` first (otherwise dist/main.js must exist)
  --json FILE         also write the full report as JSON`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function fail(message: string): never {
  process.stderr.write(`fuzz: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0)
    fail(`--${name} must be a non-negative integer (got ${value})`);
  return n;
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** VmRSS of a process in bytes (Linux), or undefined. */
function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const mib = (bytes: number | undefined) =>
  bytes === undefined ? '?' : `${(bytes / MiB).toFixed(1)} MiB`;

/** A gateway started by the fuzzer: node --expose-gc with a preload that reports memory on SIGUSR2. */
interface ChildGateway {
  child: ChildProcess;
  port: number;
  secret: string;
  maxFrameBytes: number;
  /** Full GC in the gateway, then its heapUsed. */
  heapAfterGc(): Promise<number>;
  output(): string;
  stop(): Promise<number | null>;
  cleanup(): void;
}

async function startChild(store: string, build: boolean): Promise<ChildGateway> {
  if (build) {
    process.stdout.write('fuzz: building (nest build)…\n');
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build'],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
  }
  if (!existsSync(MAIN)) {
    fail(
      `${MAIN} is missing: run \`npm run build\` first, pass --build, or fuzz a running gateway with --port`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'longlink-fuzz-'));
  const port = await freePort();
  const secret = randomBytes(24).toString('hex');
  const configFile = join(dir, 'fuzz.yaml');
  writeFileSync(
    configFile,
    [
      '# Written by bench/fuzz/fuzz.ts: limits that would stop most frames before the parsers are lifted.',
      'server:',
      '  maxConnectsPerIpPerWindow: 1000000000',
      'auth:',
      `  maxFailedLogins: ${Number.MAX_SAFE_INTEGER}`,
      'rateLimit:',
      '  maxPackets: 1000000000',
      '  kickPackets: 1000000000',
      'messaging:',
      `  store: ${store}`,
      `  dataDir: ${JSON.stringify(join(dir, 'data'))}`,
      'log:',
      '  level: warn',
      '',
    ].join('\n'),
  );
  const preload = join(dir, 'memory-report.cjs');
  writeFileSync(
    preload,
    `process.on('SIGUSR2', () => {
  global.gc(); global.gc();
  process.stderr.write('longlink-fuzz-mem ' + JSON.stringify(process.memoryUsage()) + '\\n');
});\n`,
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LONGLINK_')) env[k] = v;
  Object.assign(env, {
    LONGLINK_CONFIG: configFile,
    LONGLINK_PORT: String(port),
    LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
    LONGLINK_JWT_SECRET: secret,
  });
  const child = spawn(process.execPath, ['--expose-gc', '-r', preload, MAIN], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let memWaiters: ((heapUsed: number) => void)[] = [];
  let pending = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-100_000);
    pending += text;
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const m = /^longlink-fuzz-mem (.*)$/.exec(line);
      if (m) {
        const heapUsed = (JSON.parse(m[1]) as { heapUsed: number }).heapUsed;
        const w = memWaiters;
        memWaiters = [];
        for (const f of w) f(heapUsed);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const deadline = Date.now() + 20_000;
  while (!(await canConnect(port, '127.0.0.1'))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      process.stderr.write(output);
      fail('the gateway did not start');
    }
    await sleep(50);
  }
  return {
    child,
    port,
    secret,
    maxFrameBytes: 65536,
    heapAfterGc: () =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('no memory report from the gateway')),
          10_000,
        );
        memWaiters.push((h) => {
          clearTimeout(timer);
          resolve(h);
        });
        child.kill('SIGUSR2');
      }),
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

interface Health {
  alive: boolean;
  baseline: LatencyStats;
  during?: LatencyStats;
  after?: LatencyStats;
  rssBefore?: number;
  rssAfter?: number;
  heapBefore?: number;
  heapAfter?: number;
  problems: string[];
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        frames: { type: 'string' },
        connections: { type: 'string' },
        seed: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        secret: { type: 'string' },
        pid: { type: 'string' },
        'max-frame-bytes': { type: 'string' },
        store: { type: 'string' },
        build: { type: 'boolean' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const frames = integer('frames', args.frames, 100_000);
  const connections = Math.max(1, integer('connections', args.connections, 64));
  const seed = integer('seed', args.seed, randomBytes(4).readUInt32BE(0)) >>> 0;
  const store = args.store ?? 'memory';
  if (store !== 'memory' && store !== 'sqlite') fail('--store must be memory or sqlite');
  const documented = parseDocumentedCodes(readFileSync(join(ROOT, 'docs', 'PROTOCOL.md'), 'utf8'));

  let gateway: ChildGateway | undefined;
  let host = args.host ?? '127.0.0.1';
  let port: number;
  let secret: string;
  let pid: number | undefined;
  let maxFrameBytes = integer('max-frame-bytes', args['max-frame-bytes'], 65536);
  if (args.port !== undefined) {
    port = integer('port', args.port, 0);
    secret = args.secret ?? process.env.LONGLINK_JWT_SECRET ?? DEV_SECRET;
    pid = args.pid === undefined ? undefined : integer('pid', args.pid, 0);
    if (!(await canConnect(port, host))) fail(`nothing is listening on ${host}:${port}`);
  } else {
    gateway = await startChild(store, args.build === true);
    ({ port, secret, maxFrameBytes } = gateway);
    host = '127.0.0.1';
    pid = gateway.child.pid;
  }
  const stopChild = () => gateway?.child.kill('SIGKILL');
  process.once('SIGINT', () => {
    stopChild();
    process.exit(130);
  });

  const target = gateway
    ? `a gateway started here (pid ${pid}, ${store} store, rate limits lifted)`
    : `${host}:${port}`;
  process.stdout.write(
    `fuzz: seed ${seed}; ${frames} frames from ${connections} connections at ${target}\n`,
  );
  const health: Health = {
    alive: true,
    baseline: { count: 0, p50: NaN, p99: NaN, max: NaN },
    problems: [],
  };
  const probe = await HeartbeatProbe.open({
    port,
    host,
    token: await mintToken('fuzz-bystander', { secret }),
  });
  // Warm-up (JIT, pools), so the memory baseline is not the cold start.
  await runFuzz({
    port,
    host,
    frames: Math.min(20_000, frames),
    connections: 16,
    seed: seed ^ 0x5a5a5a5a,
    jwtSecret: secret,
    maxFrameBytes,
  });
  await sleep(2000);
  health.baseline = await probe.measure(500, 2);
  health.heapBefore = gateway ? await gateway.heapAfterGc() : undefined;
  await sleep(500);
  health.rssBefore = rssOf(pid);
  process.stdout.write(
    `fuzz: baseline: bystander heartbeat ${formatStats(health.baseline)}; gateway heap after GC ${mib(health.heapBefore)}, RSS ${mib(health.rssBefore)}\n`,
  );

  probe.startBackground(20);
  let lastLine = 0;
  const report: FuzzReport = await runFuzz({
    port,
    host,
    frames,
    connections,
    seed,
    jwtSecret: secret,
    maxFrameBytes,
    documented,
    onProgress: (p) => {
      if (p.elapsedMs - lastLine < 5000 && p.framesSent < frames) return;
      lastLine = p.elapsedMs;
      const rate = Math.round(p.framesSent / Math.max(p.elapsedMs / 1000, 0.001));
      process.stdout.write(
        `fuzz: ${p.framesSent}/${frames} frames (${((100 * p.framesSent) / frames).toFixed(1)}%), ${rate} frames/s, ${p.lives} connections, ${p.failures} failures, gateway RSS ${mib(rssOf(pid))}\n`,
      );
    },
  });
  health.during = await probe.stopBackground();
  if (probe.missed > 0)
    health.problems.push(`the bystander missed ${probe.missed} heartbeats during the run`);
  if (probe.problems.length > 0)
    health.problems.push(`the bystander got ${probe.problems.join('; ')}`);

  // Alive and serving: a new connection logs in; the bystander's latency is back to normal.
  await sleep(2000);
  health.alive = gateway ? gateway.child.exitCode === null : true;
  if (!health.alive || !(await canConnect(port, host))) {
    health.alive = false;
    health.problems.push('the gateway is not accepting connections after the run');
  } else {
    try {
      const fresh = await HeartbeatProbe.open({
        port,
        host,
        token: await mintToken('fuzz-after', { secret }),
      });
      await fresh.rtt();
      fresh.close();
    } catch (err) {
      health.problems.push(`a new client cannot log in after the run: ${(err as Error).message}`);
    }
    const allowed = (b: LatencyStats) => b.p99 * 1.2 + 1;
    health.after = await probe.measure(500, 2);
    if (health.after.p99 > allowed(health.baseline)) {
      await sleep(3000); // one retry: a shared machine has noisy moments
      health.after = await probe.measure(500, 2);
    }
    if (health.after.p99 > allowed(health.baseline)) {
      health.problems.push(
        `bystander p99 after the run ${health.after.p99.toFixed(2)} ms > baseline ${health.baseline.p99.toFixed(2)} ms + 20% (+1 ms)`,
      );
    }
    if (gateway) health.heapAfter = await gateway.heapAfterGc();
    await sleep(500);
    health.rssAfter = rssOf(pid);
    if (
      health.heapBefore !== undefined &&
      health.heapAfter !== undefined &&
      health.heapAfter - health.heapBefore > MAX_HEAP_GROWTH
    ) {
      health.problems.push(
        `gateway heap after GC grew by ${mib(health.heapAfter - health.heapBefore)} (limit ${mib(MAX_HEAP_GROWTH)})`,
      );
    }
    if (
      health.rssBefore !== undefined &&
      health.rssAfter !== undefined &&
      health.rssAfter - health.rssBefore > MAX_RSS_GROWTH
    ) {
      health.problems.push(
        `gateway RSS grew by ${mib(health.rssAfter - health.rssBefore)} (limit ${mib(MAX_RSS_GROWTH)})`,
      );
    }
  }
  probe.close();

  let exitCode: number | null = null;
  if (gateway) {
    exitCode = await gateway.stop();
    if (exitCode !== 0)
      health.problems.push(`the gateway exited with ${exitCode} on SIGTERM (expected 0)`);
  }

  process.stdout.write(`\n${formatFuzzReport(report)}\n`);
  process.stdout.write(
    [
      `  gateway: ${health.alive ? 'alive after the run' : 'DOWN'}${gateway ? `, exit code ${exitCode} on SIGTERM` : ''}`,
      `  bystander heartbeat RTT: baseline ${formatStats(health.baseline)}`,
      `                           during   ${health.during ? formatStats(health.during) : '-'}`,
      `                           after    ${health.after ? formatStats(health.after) : '-'}`,
      `  gateway memory: heap after GC ${mib(health.heapBefore)} → ${mib(health.heapAfter)}; RSS ${mib(health.rssBefore)} → ${mib(health.rssAfter)}`,
      '',
    ].join('\n'),
  );
  const problems = [...report.failures.map((f) => f.message), ...health.problems];
  if (args.json) {
    writeFileSync(args.json, JSON.stringify({ report, health }, null, 2));
  }
  if (problems.length === 0) {
    process.stdout.write(`fuzz: OK (seed ${seed})\n`);
  } else {
    for (const p of health.problems) process.stdout.write(`  FAILURE: ${p}\n`);
    process.stdout.write(
      `fuzz: FAILED (${problems.length} problems). Reproduce with: npm run fuzz -- --frames ${frames} --connections ${connections} --seed ${seed}\n`,
    );
    if (gateway && health.problems.length > 0) {
      process.stdout.write(
        `--- last gateway output ---\n${gateway.output().split('\n').slice(-30).join('\n')}\n`,
      );
    }
  }
  gateway?.cleanup();
  process.exit(problems.length === 0 ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
