/**
 * Scenario 1, connection scale: ramps N authenticated clients in steps, each
 * heartbeating every heartbeatMs, spread over generator processes (the
 * per-process open-file limit) and source addresses 127.0.0.x (the ephemeral
 * ports of one address pair). After each step: the server's RSS and, for Node
 * servers, its JS heap after forced GCs; memory per connection is the slope
 * across steps. Login rate is connections / ramp time. Then the server's CPU
 * is measured with the clients silent, and with them heartbeating.
 */
import { readFdLimit, FdLimit, ServerHandle, SystemInfo, startServer } from '../servers';
import { BenchContext, sleep } from '../context';
import { IdleResult } from '../generator.worker';
import { sumStats } from '../generator.pool';
import { slope } from '../stats';
import { localEndpoint } from '../addresses';
import { busyShare, sampleCpus } from '../cpu-load';

export interface ScaleStep {
  connections: number;
  rssBytes: number;
  heapUsedBytes: number | null;
  rampMs: number;
  loginsPerSec: number;
  serverCpuUsPerLogin: number;
}

export interface ScaleResult {
  target: number;
  reached: number;
  /** Why the ramp stopped short, when it did. */
  limit: string | null;
  steps: ScaleStep[];
  rssPerConnBytes: number;
  heapPerConnBytes: number | null;
  loginsPerSec: number;
  serverCpuUsPerLogin: number;
  tokenMintMs: number;
  heartbeatMs: number;
  heartbeatsPerSec: number;
  heartbeatReplies: number;
  idleCpuCores: number;
  heartbeatCpuCores: number;
  /** Server CPU per heartbeat with heartbeats on (gross). */
  cpuUsPerHeartbeat: number;
  /** The same net of the silent phase (NaN when the server drives heartbeats). */
  netCpuUsPerHeartbeat: number;
  serverFdLimit: FdLimit;
  generatorProcesses: number;
  sourceAddresses: string[];
  dropped: number;
  errors: string[];
  /** Busy share of every core while the clients heartbeated. */
  coreBusy: number[];
}

function explain(
  firstError: string,
  reached: number,
  server: ServerHandle,
  fd: FdLimit,
  want: number,
): string {
  const gen = readFdLimit('/proc/self/limits');
  if (!server.alive()) return `the server exited: ${server.stderr().slice(-3).join(' | ')}`;
  if (/EADDRNOTAVAIL/.test(firstError)) {
    return `ephemeral ports of a source address ran out (${firstError}); lower --per-address`;
  }
  if (/EMFILE|ENFILE/.test(firstError)) {
    return `a generator process hit its open-file limit (soft ${gen.soft}, hard ${gen.hard}); lower --per-process`;
  }
  if (reached >= fd.soft - 300) {
    return (
      `the server process's open-file limit: RLIMIT_NOFILE soft ${fd.soft} / hard ${fd.hard} ` +
      `(/proc/${server.pid}/limits); the script asked for ${want + 1000} with ulimit -n, and the hard ` +
      `limit is set outside this machine's control (ulimit -Hn = ${gen.hard}), so one server process ` +
      `holds at most about ${fd.soft - 30} sockets (first failure: ${firstError})`
    );
  }
  return firstError;
}

export async function runScale(ctx: BenchContext, system: SystemInfo): Promise<ScaleResult> {
  const { opts, pool } = ctx;
  const genFd = readFdLimit('/proc/self/limits');
  const perProcess = Math.min(opts.perProcess, genFd.soft - 500);
  const want = opts.connections;
  const procs = Math.max(1, Math.ceil(want / perProcess));
  pool.ensure(procs);
  const server = await startServer(system, {
    heartbeatMs: opts.heartbeatMs,
    heapProbe: true,
    wantFds: want + 1000,
    nodeFlags: opts.serverNodeFlags,
  });
  const errors: string[] = [];
  try {
    const fd = server.fdLimit();
    await pool.all({ cmd: 'driver', protocol: system.protocol, port: server.port }, procs);
    const rangeOf = (w: number) => [w * perProcess, Math.min(want, (w + 1) * perProcess)];
    const t0 = performance.now();
    await pool.all((w) => {
      const [a, b] = rangeOf(w);
      return { cmd: 'prepare', uids: Array.from({ length: b - a }, (_, k) => `u-${a + k}`) };
    }, procs);
    const tokenMintMs = performance.now() - t0;
    await pool.all({ cmd: 'heartbeats', intervalMs: opts.heartbeatMs }, procs);

    const steps: ScaleStep[] = [];
    const base = await server.probeMemory();
    steps.push({ connections: 0, ...base, rampMs: 0, loginsPerSec: NaN, serverCpuUsPerLogin: NaN });
    let reached = 0;
    let limit: string | null = null;
    let rampMs = 0;
    let rampCpu = 0;
    for (let k = 1; k <= opts.steps; k++) {
      const target = Math.round((want * k) / opts.steps);
      const from = reached;
      const c0 = server.cpuMicros();
      const t = performance.now();
      const results = await pool.all<IdleResult>((w) => {
        const [a, b] = rangeOf(w);
        const lo = Math.max(a, from);
        const hi = Math.min(b, target);
        return {
          cmd: 'idle',
          from: lo,
          to: Math.max(lo, hi),
          perAddress: opts.perAddress,
          concurrency: opts.loginConcurrency,
        };
      }, procs);
      const ms = performance.now() - t;
      const cpu = server.alive() ? server.cpuMicros() - c0 : NaN;
      const connected = results.reduce((s, r) => s + r.connected, 0);
      const failed = results.reduce((s, r) => s + r.failed, 0);
      reached += connected;
      rampMs += ms;
      rampCpu += cpu;
      if (failed > 0 || !server.alive()) {
        const first = results.find((r) => r.firstError)?.firstError ?? 'server exited';
        limit = `reached ${reached} of ${want}: ${failed} logins failed; limit: ${explain(first, reached, server, fd, want)}`;
        errors.push(first);
        ctx.progress.log(`  ${system.name}: ${limit}`);
      }
      if (!server.alive()) break;
      await sleep(500);
      const mem = await server.probeMemory();
      steps.push({
        connections: reached,
        ...mem,
        rampMs: ms,
        loginsPerSec: (connected * 1000) / ms,
        serverCpuUsPerLogin: cpu / connected,
      });
      if (failed > 0) break;
    }

    // Heartbeat cost: the clients silent, then heartbeating.
    const hold = opts.holdSeconds * 1000;
    await pool.all({ cmd: 'heartbeats', intervalMs: 0 }, procs);
    await sleep(300);
    let c0 = server.cpuMicros();
    let t = performance.now();
    await sleep(hold);
    const idleCpu = (server.cpuMicros() - c0) / (performance.now() - t) / 1000;
    await pool.all({ cmd: 'heartbeats', intervalMs: opts.heartbeatMs }, procs);
    await sleep(300);
    const s0 = sumStats(await pool.stats(procs));
    c0 = server.cpuMicros();
    const cpuA = sampleCpus();
    t = performance.now();
    await sleep(hold);
    const hbCpuUs = server.cpuMicros() - c0;
    const coreBusy = busyShare(cpuA, sampleCpus());
    const hbSeconds = (performance.now() - t) / 1000;
    const s1 = sumStats(await pool.stats(procs));
    const replies = s1.heartbeatReplies - s0.heartbeatReplies;
    const hbCpu = hbCpuUs / hbSeconds / 1e6;
    await pool.all({ cmd: 'idle-close' }, procs);
    errors.push(...s1.errorSamples);
    if (s1.dropped > 0) {
      ctx.notes.push(
        `${system.name}: ${s1.dropped} idle connections were closed by the server during the connection-scale scenario`,
      );
    }

    // The first step also pays one-off costs (JIT code for the login path, heap
    // growth), so the slope starts from it unless the ramp has a single step.
    const fit = steps.length > 2 ? steps.slice(1) : steps;
    const points = fit.map((s) => ({ x: s.connections, y: s.rssBytes }));
    const withHeap = (list: ScaleStep[]) =>
      list
        .filter((s) => s.heapUsedBytes !== null)
        .map((s) => ({ x: s.connections, y: s.heapUsedBytes! }));
    // At the open-file limit the probe cannot connect: fall back to the steps that have a figure.
    const heapPoints = withHeap(fit).length >= 2 ? withHeap(fit) : withHeap(steps);
    const addresses = new Set<string>();
    for (let j = 0; j < want; j += 1000) addresses.add(localEndpoint(j, opts.perAddress).address);
    addresses.add(localEndpoint(want - 1, opts.perAddress).address);
    return {
      target: want,
      reached,
      limit,
      steps,
      rssPerConnBytes: slope(points),
      heapPerConnBytes: heapPoints.length >= 2 ? slope(heapPoints) : null,
      loginsPerSec: (reached * 1000) / rampMs,
      serverCpuUsPerLogin: rampCpu / reached,
      tokenMintMs,
      heartbeatMs: opts.heartbeatMs,
      heartbeatsPerSec: replies / hbSeconds,
      heartbeatReplies: replies,
      idleCpuCores: idleCpu,
      heartbeatCpuCores: hbCpu,
      cpuUsPerHeartbeat: hbCpuUs / replies,
      netCpuUsPerHeartbeat:
        system.protocol === 'socketio' ? NaN : ((hbCpu - idleCpu) * 1e6 * hbSeconds) / replies,
      serverFdLimit: fd,
      generatorProcesses: procs,
      sourceAddresses: [...addresses],
      dropped: s1.dropped,
      errors,
      coreBusy,
    };
  } finally {
    await pool.all({ cmd: 'idle-close' }, procs).catch(() => undefined);
    await server.stop();
  }
}
