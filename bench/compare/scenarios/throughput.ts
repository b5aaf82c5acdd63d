/**
 * Scenario 2 (and 4, cost): closed loop. P sender→receiver pairs, each sender
 * keeping W messages not yet fully acknowledged (its ack received, and the
 * delivery acknowledged by the receiver). Reports completed messages per second
 * over the window, server CPU per message from /proc, and the CPU the generator
 * and server used, so a generator-bound figure is visible.
 */
import { BenchContext, sleep } from '../context';
import { sumStats } from '../generator.pool';
import { PINNED } from '../../support/process';
import { SystemInfo, startServer } from '../servers';
import { busyShare, sampleCpus } from '../cpu-load';

export interface ThroughputResult {
  msgsPerSec: number;
  /** Length of the measured window. */
  seconds: number;
  serverCpuUsPerMsg: number;
  serverCores: number;
  generatorCores: number;
  generatorBound: boolean;
  rssStartBytes: number;
  rssEndBytes: number;
  dups: number;
  errors: number;
  dropped: number;
  errorSamples: string[];
  /** Busy share of every core during the window (all processes). */
  coreBusy: number[];
}

/**
 * Which side limited a closed-loop window: the generator when its core (CPU 0,
 * shared by every generator process) was full, by the generator itself or with
 * other people's processes, while the server's core (CPU 1) was not. Unpinned,
 * only the generator's own CPU tells.
 */
export function isGeneratorBound(
  generatorCores: number,
  serverCores: number,
  coreBusy: number[],
): boolean {
  if (!PINNED) return generatorCores > 0.9 && serverCores < 0.9;
  const generatorFull = generatorCores >= 0.9 || coreBusy[0] >= 0.95;
  const serverFull = serverCores >= 0.9 || coreBusy[1] >= 0.95;
  return generatorFull && !serverFull;
}

/** Splits pair indices round-robin over `procs` generator processes. */
export function pairsFor(worker: number, procs: number, pairs: number): number[] {
  return Array.from({ length: pairs }, (_, i) => i).filter((i) => i % procs === worker);
}

/** What a window reads on the server side: one server, or the sum of a cluster's nodes. */
export interface ServerMeter {
  /** CPU µs used so far. */
  cpuMicros(): number;
  rssBytes(): number;
}

export async function runThroughput(
  ctx: BenchContext,
  system: SystemInfo,
): Promise<ThroughputResult> {
  const { opts, pool } = ctx;
  const procs = Math.min(opts.genProcs, opts.pairs);
  pool.ensure(procs);
  const server = await startServer(system, {
    heartbeatMs: 30000,
    heapProbe: false,
    wantFds: 4096,
    nodeFlags: opts.serverNodeFlags,
  });
  try {
    await pool.all({ cmd: 'driver', protocol: system.protocol, port: server.port }, procs);
    await pool.all((w) => ({ cmd: 'pairs', indices: pairsFor(w, procs, opts.pairs) }), procs);
    await pool.all({ cmd: 'window', window: opts.window }, procs);
    await sleep(opts.warmupSeconds * 1000);
    const r = await measureWindow(ctx, procs, server);
    await pool.all({ cmd: 'window', window: 0 }, procs);
    return r;
  } finally {
    await pool.all({ cmd: 'pairs-close' }, procs).catch(() => undefined);
    await server.stop();
  }
}

/** Measures `opts.seconds` of the closed loop already running on the first `procs` generators. */
export async function measureWindow(
  ctx: BenchContext,
  procs: number,
  server: ServerMeter,
): Promise<ThroughputResult> {
  const { opts, pool } = ctx;
  const s0 = sumStats(await pool.stats(procs));
  const c0 = server.cpuMicros();
  const cpuA = sampleCpus();
  const rss0 = server.rssBytes();
  const t0 = performance.now();
  await sleep(opts.seconds * 1000);
  const s1 = sumStats(await pool.stats(procs));
  const c1 = server.cpuMicros();
  const coreBusy = busyShare(cpuA, sampleCpus());
  const seconds = (performance.now() - t0) / 1000;
  const rss1 = server.rssBytes();
  const done = s1.completed - s0.completed;
  const generatorCores = (s1.cpuUs - s0.cpuUs) / 1e6 / seconds;
  const serverCores = (c1 - c0) / 1e6 / seconds;
  return {
    msgsPerSec: done / seconds,
    seconds,
    serverCpuUsPerMsg: (c1 - c0) / done,
    serverCores,
    generatorCores,
    generatorBound: isGeneratorBound(generatorCores, serverCores, coreBusy),
    rssStartBytes: rss0,
    rssEndBytes: rss1,
    dups: s1.dups - s0.dups,
    errors: s1.errors,
    dropped: s1.dropped,
    errorSamples: s1.errorSamples,
    coreBusy,
  };
}
