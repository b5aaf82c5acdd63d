/**
 * Scenario 5, cluster (Redis + the PostgreSQL store), two measurements:
 * - messaging: 1 node (senders and receivers on it) or 2 nodes (senders on node 1,
 *   receivers on node 2: every message crosses nodes). Closed loop as in the
 *   throughput scenario, then the open loop at the fixed rates as in the latency
 *   scenario, on the same nodes. All nodes share CPU 1: cluster overhead, not scale-out.
 * - scale: idle heartbeating clients spread over N node processes (client j on
 *   node j mod N), over generator processes and source addresses as in the
 *   connection-scale scenario; RSS (and heap) per connection per node is the slope
 *   across the ramp steps.
 */
import { BenchContext, sleep } from '../context';
import { Backing, BackingCpu, NodeSet } from '../cluster';
import { IdleResult } from '../generator.worker';
import { sumStats } from '../generator.pool';
import { readFdLimit } from '../servers';
import { slope } from '../stats';
import { localEndpoint } from '../addresses';
import { busyShare, sampleCpus } from '../cpu-load';
import { LatencyPoint, drain, openLoop } from './latency';
import { ThroughputResult, measureWindow, pairsFor } from './throughput';

export interface ClusterMessagingResult {
  nodes: number;
  throughput: ThroughputResult;
  /** Redis and PostgreSQL during the closed-loop window. */
  backing: BackingCpu;
  latency: LatencyPoint[];
}

export interface ClusterNodeMemory {
  connections: number;
  rssBytes: number;
  rssPerConnBytes: number;
  heapPerConnBytes: number | null;
}

export interface ClusterScaleResult {
  nodes: number;
  target: number;
  reached: number;
  limit: string | null;
  perNode: ClusterNodeMemory[];
  loginsPerSec: number;
  nodeCpuUsPerLogin: number;
  backingDuringRamp: BackingCpu;
  heartbeatsPerSec: number;
  /** Sum of the nodes' CPU while the clients heartbeat, per heartbeat answered. */
  cpuUsPerHeartbeat: number;
  heartbeatCores: number;
  backingDuringHeartbeats: BackingCpu;
  redisBytesPerConn: number;
  generatorProcesses: number;
  /** All generator processes, at the end. */
  generatorRssBytes: number;
  sourceAddresses: string[];
  postgresPoolSize: number;
  dropped: number;
  errors: string[];
  coreBusy: number[];
}

export async function runClusterMessaging(
  ctx: BenchContext,
  backing: Backing,
  nodes: 1 | 2,
): Promise<ClusterMessagingResult> {
  const { opts, pool } = ctx;
  const procs = Math.min(opts.genProcs, opts.pairs);
  pool.ensure(procs);
  const set = await NodeSet.start(ctx, backing, nodes, {
    heartbeatMs: 30000,
    heapProbe: false,
    wantFds: 4096,
    poolSize: 10,
  });
  const name = `cluster ${nodes} node${nodes > 1 ? 's' : ''}`;
  try {
    const [tx, rx] = [set.nodes[0], set.nodes[nodes - 1]];
    await pool.all({ cmd: 'driver', protocol: 'longlink', port: tx.port, rxPort: rx.port }, procs);
    await pool.all((w) => ({ cmd: 'pairs', indices: pairsFor(w, procs, opts.pairs) }), procs);
    await pool.all({ cmd: 'window', window: opts.window }, procs);
    await sleep(opts.warmupSeconds * 1000);
    const b0 = backing.sample();
    const throughput = await measureWindow(ctx, procs, set);
    const b1 = backing.sample();
    await pool.all({ cmd: 'window', window: 0 }, procs);
    const backlog = await drain(ctx, procs);
    if (throughput.errors || throughput.dups || throughput.dropped || backlog) {
      ctx.notes.push(
        `${name}: ${throughput.errors} errors, ${throughput.dups} duplicate deliveries, ${throughput.dropped} connections dropped, ` +
          `${backlog} messages incomplete after the closed loop ${throughput.errorSamples.slice(0, 2).join('; ')}`,
      );
    }
    const rates = opts.fixedRates.map((offered) => ({ offered, kind: 'fixed' }));
    const latency = await openLoop(ctx, procs, set, name, rates, opts.maxInFlight);
    return { nodes, throughput, backing: Backing.used(b0, b1), latency };
  } finally {
    await pool.all({ cmd: 'pairs-close' }, procs).catch(() => undefined);
    await set.stop();
  }
}

/** Clients j < reached with j mod n = i. */
const onNode = (reached: number, n: number, i: number) =>
  reached > i ? Math.floor((reached - i - 1) / n) + 1 : 0;

export async function runClusterScale(
  ctx: BenchContext,
  backing: Backing,
): Promise<ClusterScaleResult> {
  const { opts, pool } = ctx;
  const want = opts.clusterConnections;
  const n = Math.max(opts.clusterNodes, Math.ceil(want / opts.clusterPerNode));
  const perProcess = Math.min(opts.perProcess, readFdLimit('/proc/self/limits').soft - 500);
  const procs = Math.max(1, Math.ceil(want / perProcess));
  // max_connections (100 by default) is shared by every node's pool and everyone else.
  const poolSize = Math.max(1, Math.min(10, Math.floor(40 / n)));
  pool.ensure(procs);
  const set = await NodeSet.start(ctx, backing, n, {
    heartbeatMs: opts.heartbeatMs,
    heapProbe: true,
    wantFds: Math.ceil(want / n) + 1000,
    poolSize,
  });
  const errors: string[] = [];
  try {
    const ports = set.nodes.map((s) => s.port);
    await pool.all({ cmd: 'driver', protocol: 'longlink', port: ports[0] }, procs);
    const rangeOf = (w: number) => [w * perProcess, Math.min(want, (w + 1) * perProcess)];
    await pool.all((w) => {
      const [a, b] = rangeOf(w);
      return { cmd: 'prepare', uids: Array.from({ length: b - a }, (_, k) => `u-${a + k}`) };
    }, procs);
    await pool.all({ cmd: 'heartbeats', intervalMs: opts.heartbeatMs }, procs);
    const redis0 = await backing.redisMemory();
    const probe = () => Promise.all(set.nodes.map((s) => s.probeMemory()));
    const steps = [{ reached: 0, mem: await probe() }];
    let reached = 0;
    let limit: string | null = null;
    let rampMs = 0;
    let rampCpu = 0;
    let ramp: BackingCpu = { redisUs: 0, postgresUs: 0, seconds: 0 };
    for (let k = 1; k <= opts.steps && limit === null; k++) {
      const target = Math.round((want * k) / opts.steps);
      ctx.progress.step(
        `cluster scale: ${target} connections on ${n} nodes`,
        (target - reached) / 800,
      );
      const from = reached;
      const c0 = set.cpuMicros();
      const b0 = backing.sample();
      const t = performance.now();
      const results = await pool.all<IdleResult>((w) => {
        const [a, b] = rangeOf(w);
        const lo = Math.max(a, from);
        return {
          cmd: 'idle',
          from: lo,
          to: Math.max(lo, Math.min(b, target)),
          perAddress: opts.perAddress,
          concurrency: opts.loginConcurrency,
          ports,
        };
      }, procs);
      rampMs += performance.now() - t;
      ramp = Backing.add(ramp, Backing.used(b0, backing.sample()));
      const dead = set.nodes.findIndex((s) => !s.alive());
      rampCpu += dead < 0 ? set.cpuMicros() - c0 : NaN;
      reached += results.reduce((s, r) => s + r.connected, 0);
      const failed = results.reduce((s, r) => s + r.failed, 0);
      if (failed > 0 || dead >= 0) {
        const first = results.find((r) => r.firstError)?.firstError ?? '';
        errors.push(first);
        limit =
          `reached ${reached} of ${want}: ${failed} logins failed` +
          (dead >= 0
            ? `; node ${dead + 1} exited: ${set.nodes[dead].stderr().slice(-3).join(' | ')}`
            : '') +
          (first ? `; first error: ${first}` : '');
        ctx.progress.log(`  cluster scale: ${limit}`);
      }
      if (dead >= 0) break;
      await sleep(500);
      steps.push({ reached, mem: await probe() });
    }
    const redisBytesPerConn = ((await backing.redisMemory()) - redis0) / reached;

    // Heartbeat cost, as in the connection-scale scenario (after a silent pause).
    await pool.all({ cmd: 'heartbeats', intervalMs: 0 }, procs);
    await sleep(300);
    await pool.all({ cmd: 'heartbeats', intervalMs: opts.heartbeatMs }, procs);
    await sleep(300);
    const s0 = sumStats(await pool.stats(procs));
    const c0 = set.cpuMicros();
    const cpuA = sampleCpus();
    const h0 = backing.sample();
    const t = performance.now();
    await sleep(opts.holdSeconds * 1000);
    const hbUs = set.cpuMicros() - c0;
    const heartbeatBacking = Backing.used(h0, backing.sample());
    const coreBusy = busyShare(cpuA, sampleCpus());
    const seconds = (performance.now() - t) / 1000;
    const s1 = sumStats(await pool.stats(procs));
    const replies = s1.heartbeatReplies - s0.heartbeatReplies;
    errors.push(...s1.errorSamples);
    if (s1.dropped > 0)
      ctx.notes.push(`cluster scale: ${s1.dropped} idle connections were closed by a node`);

    const fit = steps.length > 2 ? steps.slice(1) : steps;
    const perNode = set.nodes.map((_, i): ClusterNodeMemory => {
      const at = (list: typeof steps) =>
        list.map((st) => ({ x: onNode(st.reached, n, i), m: st.mem[i] }));
      const heap = at(fit).filter((p) => p.m.heapUsedBytes !== null);
      return {
        connections: onNode(reached, n, i),
        rssBytes: steps[steps.length - 1].mem[i].rssBytes,
        rssPerConnBytes: slope(at(fit).map((p) => ({ x: p.x, y: p.m.rssBytes }))),
        heapPerConnBytes:
          heap.length >= 2 ? slope(heap.map((p) => ({ x: p.x, y: p.m.heapUsedBytes! }))) : null,
      };
    });
    const addresses = new Set<string>();
    for (let j = 0; j < want; j += 1000) addresses.add(localEndpoint(j, opts.perAddress).address);
    addresses.add(localEndpoint(want - 1, opts.perAddress).address);
    return {
      nodes: n,
      target: want,
      reached,
      limit,
      perNode,
      loginsPerSec: (reached * 1000) / rampMs,
      nodeCpuUsPerLogin: rampCpu / reached,
      backingDuringRamp: ramp,
      heartbeatsPerSec: replies / seconds,
      cpuUsPerHeartbeat: hbUs / replies,
      heartbeatCores: hbUs / 1e6 / seconds,
      backingDuringHeartbeats: heartbeatBacking,
      redisBytesPerConn,
      generatorProcesses: procs,
      generatorRssBytes: s1.rssBytes,
      sourceAddresses: [...addresses],
      postgresPoolSize: poolSize,
      dropped: s1.dropped,
      errors,
      coreBusy,
    };
  } finally {
    await pool.all({ cmd: 'idle-close' }, procs).catch(() => undefined);
    await set.stop();
  }
}
