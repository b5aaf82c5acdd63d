/**
 * Scenario 3, latency: open loop at fixed rates (the fixed ones, e.g. 10k
 * msgs/s, and percentages of the system's measured maximum). Each message
 * carries its send time (µs, performance.now) as its 16-byte content; the
 * receiver records now − stamp in an hdr-histogram. Between rates the load stops
 * until everything in flight is complete, so one rate's backlog does not leak
 * into the next.
 */
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { BenchContext, sleep } from '../context';
import { sumStats } from '../generator.pool';
import { MQTT_MAX_IN_FLIGHT } from '../drivers/mqtt.driver';
import { newHistogram } from '../drivers/driver';
import { SystemInfo, startServer } from '../servers';
import { busyShare, sampleCpus } from '../cpu-load';
import { ServerMeter, pairsFor } from './throughput';

export interface LatencyPoint {
  /** Offered rate, msgs/s. */
  offered: number;
  /** What the rate was: 'fixed' or a percentage of the measured maximum. */
  kind: string;
  /** Completed (both acks) msgs/s. */
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  samples: number;
  serverCpuUsPerMsg: number;
  generatorCores: number;
  suppressed: number;
  /** Messages still incomplete 3 s after the rate stopped. */
  backlog: number;
  serverCores: number;
  coreBusy: number[];
}

const DRAIN_MS = 3000;

/** Waits up to DRAIN_MS until no message is in flight; returns how many still are. */
export async function drain(ctx: BenchContext, procs: number): Promise<number> {
  const until = Date.now() + DRAIN_MS;
  for (;;) {
    const backlog = sumStats(await ctx.pool.stats(procs)).outstanding;
    if (backlog === 0 || Date.now() >= until) return backlog;
    await sleep(50);
  }
}

export async function runLatency(
  ctx: BenchContext,
  system: SystemInfo,
  rates: { offered: number; kind: string }[],
): Promise<LatencyPoint[]> {
  const { opts, pool } = ctx;
  const procs = Math.min(opts.genProcs, opts.pairs);
  pool.ensure(procs);
  const maxInFlight = Math.min(
    opts.maxInFlight,
    system.protocol === 'mqtt' ? MQTT_MAX_IN_FLIGHT : Infinity,
  );
  const server = await startServer(system, {
    heartbeatMs: 30000,
    heapProbe: false,
    wantFds: 4096,
    nodeFlags: opts.serverNodeFlags,
  });
  try {
    await pool.all({ cmd: 'driver', protocol: system.protocol, port: server.port }, procs);
    await pool.all((w) => ({ cmd: 'pairs', indices: pairsFor(w, procs, opts.pairs) }), procs);
    // Warm-up (JIT, buffers) in closed loop, then wait until nothing is in flight.
    await pool.all({ cmd: 'window', window: opts.window }, procs);
    await sleep(opts.warmupSeconds * 1000);
    await pool.all({ cmd: 'window', window: 0 }, procs);
    await drain(ctx, procs);
    return await openLoop(ctx, procs, server, system.name, rates, maxInFlight);
  } finally {
    await pool.all({ cmd: 'pairs-close' }, procs).catch(() => undefined);
    await server.stop();
  }
}

/**
 * The open-loop rates, one after the other, on pairs already connected and idle
 * on the first `procs` generators; `server` is what the CPU per message is read from.
 */
export async function openLoop(
  ctx: BenchContext,
  procs: number,
  server: ServerMeter,
  name: string,
  rates: { offered: number; kind: string }[],
  maxInFlight: number,
): Promise<LatencyPoint[]> {
  const { opts, pool } = ctx;
  const points: LatencyPoint[] = [];
  for (const { offered, kind } of rates) {
    ctx.progress.step(`latency ${name} @ ${Math.round(offered)} msgs/s`, opts.latencySeconds + 0.6);
    const share = offered / procs;
    await pool.all(
      { cmd: 'rate', rate: share, maxInFlight: Math.ceil(maxInFlight / opts.pairs) },
      procs,
    );
    await sleep(Math.min(500, opts.latencySeconds * 300)); // settle at this rate
    await pool.all({ cmd: 'record', on: true }, procs);
    const s0 = sumStats(await pool.stats(procs));
    const c0 = server.cpuMicros();
    const cpuA = sampleCpus();
    const t0 = performance.now();
    await sleep(opts.latencySeconds * 1000);
    const list = await pool.stats(procs, true);
    const c1 = server.cpuMicros();
    const coreBusy = busyShare(cpuA, sampleCpus());
    const seconds = (performance.now() - t0) / 1000;
    await pool.all({ cmd: 'record', on: false }, procs);
    await pool.all({ cmd: 'rate', rate: 0, maxInFlight: 0 }, procs);
    const s1 = sumStats(list);
    const hist = newHistogram();
    for (const s of list) {
      const h = decodeFromCompressedBase64(s.histogram!);
      hist.add(h);
      h.destroy();
    }
    const done = s1.completed - s0.completed;
    const backlog = await drain(ctx, procs);
    const ms = (q: number) => (hist.totalCount ? hist.getValueAtPercentile(q) / 1000 : NaN);
    points.push({
      offered,
      kind,
      achieved: done / seconds,
      p50Ms: ms(50),
      p99Ms: ms(99),
      p999Ms: ms(99.9),
      maxMs: hist.totalCount ? hist.maxValue / 1000 : NaN,
      samples: hist.totalCount,
      serverCpuUsPerMsg: (c1 - c0) / done,
      generatorCores: (s1.cpuUs - s0.cpuUs) / 1e6 / seconds,
      suppressed: s1.suppressed - s0.suppressed,
      backlog,
      serverCores: (c1 - c0) / 1e6 / seconds,
      coreBusy,
    });
    if (s1.errors > 0 || s1.dropped > 0) {
      ctx.notes.push(
        `${name} latency @ ${Math.round(offered)}/s: ${s1.errors} errors, ${s1.dropped} connections dropped (${s1.errorSamples.slice(0, 2).join('; ')})`,
      );
    }
    if (backlog > 0) {
      // What is still in flight would distort the next rate: start over on a fresh server.
      ctx.notes.push(
        `${name}: ${backlog} messages still incomplete ${DRAIN_MS / 1000} s after the ${Math.round(offered)}/s load stopped; later rates skipped`,
      );
      break;
    }
  }
  return points;
}
