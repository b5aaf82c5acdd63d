/**
 * longlink side by side with peers (`npm run bench`): connection scale, closed-loop
 * throughput, open-loop latency and server CPU per message, for longlink (memory
 * and SQLite stores), a bare node:net relay (the ceiling), Mosquitto, Aedes and
 * Socket.IO, all driven by the same load generator in the same run. Writes
 * bench/results/latest.{json,md,svg} (latest-quick.* with --quick). Options:
 * `npm run bench -- --help`; see bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join, resolve } from 'node:path';
import { PINNED } from './support/process';
import { Backing } from './compare/cluster';
import { BenchContext } from './compare/context';
import { CORES, busyShare, sampleCpus, waitForQuiet } from './compare/cpu-load';
import { GeneratorPool } from './compare/generator.pool';
import { BenchOptions, parseOptions } from './compare/options';
import { Progress } from './compare/progress';
import { ClusterResults, summariseCluster } from './compare/report/cluster';
import { toMarkdown } from './compare/report/markdown';
import { RunReport, SystemResults, ratios, summarise, targets } from './compare/report/summary';
import { toSvg } from './compare/report/svg';
import { runClusterMessaging, runClusterScale } from './compare/scenarios/cluster';
import { runLatency } from './compare/scenarios/latency';
import { runScale } from './compare/scenarios/scale';
import { runThroughput } from './compare/scenarios/throughput';
import {
  SYSTEMS,
  SystemName,
  droppedConfigKeys,
  mosquittoVersion,
  readFdLimit,
  removeSnapshot,
  snapshotLonglink,
  unavailable,
} from './compare/servers';
import { median } from './compare/stats';

const kfmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');

function estimate(o: BenchOptions, systems: SystemName[]): number {
  const scale = systems.filter((s) => SYSTEMS[s].scale).length;
  const rates = o.fixedRates.length + o.latencyPercents.length;
  let t = 0;
  if (o.scenarios.includes('scale'))
    t += o.rounds * scale * (o.connections / 2500 + o.steps * 0.7 + 2 * o.holdSeconds + 3);
  if (o.scenarios.includes('throughput'))
    t += o.rounds * systems.length * (o.warmupSeconds + o.seconds + 3);
  if (o.scenarios.includes('latency'))
    t += o.rounds * systems.length * (rates * (o.latencySeconds + 0.8) + o.warmupSeconds + 3);
  if (o.scenarios.includes('cluster')) t += o.rounds * clusterSeconds(o);
  return t;
}

/** One round of the cluster scenario: two node sets messaging, one holding idle clients. */
function clusterSeconds(o: BenchOptions): number {
  const messaging =
    o.warmupSeconds + o.seconds + o.fixedRates.length * (o.latencySeconds + 0.8) + 5;
  return 2 * messaging + o.clusterConnections / 800 + o.steps + 2 * o.holdSeconds + 8;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (PINNED) spawnSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
  const startedAt = new Date();
  const before = sampleCpus();
  await new Promise((r) => setTimeout(r, 500));
  const coreBusyBefore = busyShare(before, sampleCpus());

  const results: Partial<Record<SystemName, SystemResults>> = {};
  const runnable: SystemName[] = [];
  // The cluster scenario runs longlink only: with it alone, the systems are not started.
  const systemScenarios = opts.scenarios.some((s) => s !== 'cluster');
  for (const name of systemScenarios ? opts.systems : []) {
    const skipped = unavailable(name) ?? undefined;
    results[name] = {
      label: SYSTEMS[name].label,
      skipped,
      failures: [],
      scale: [],
      throughput: [],
      latency: [],
    };
    if (skipped) process.stderr.write(`${SYSTEMS[name].label}: skipped: ${skipped}\n`);
    else runnable.push(name);
  }
  const pinning =
    (PINNED
      ? 'Server pinned to CPU 1, load generator (and orchestrator) to CPU 0 with taskset'
      : 'One CPU: server and generator unpinned, sharing it') +
    `; Node.js servers run with ${opts.serverNodeFlags.join(' ') || 'no extra flags'}`;
  if (runnable.some((n) => n.startsWith('longlink')) || opts.scenarios.includes('cluster'))
    await snapshotLonglink();
  const progress = new Progress(estimate(opts, runnable), opts.progress);
  const pool = new GeneratorPool();
  const ctx: BenchContext = { opts, pool, progress, notes: [] };
  progress.log(`${pinning}; ${cpus()[0].model}, ${CORES} cores, node ${process.version}`);
  const quietWait = opts.quietWaitSeconds * 1000;
  const busyBefore: number[][] = [];
  const quiet = async () => {
    if (quietWait > 0) busyBefore.push(await waitForQuiet(quietWait));
  };
  const attempt = async <T>(name: SystemName, what: string, run: () => Promise<T>) => {
    try {
      return await run();
    } catch (err) {
      const msg = `${what}: ${(err as Error).message.split('\n')[0]}`;
      results[name]!.failures.push(msg);
      ctx.notes.push(`${SYSTEMS[name].label}: ${msg}`);
      progress.log(`  ${name}: FAILED ${msg}`);
      return null;
    }
  };

  let cluster: ClusterResults | undefined;
  try {
    if (opts.scenarios.includes('scale')) {
      for (let round = 1; round <= opts.rounds; round++) {
        for (const name of runnable.filter((n) => SYSTEMS[n].scale)) {
          progress.step(
            `scale ${name} round ${round}`,
            opts.connections / 2500 + opts.steps * 0.7 + 2 * opts.holdSeconds + 3,
          );
          await quiet();
          const r = await attempt(name, `scale round ${round}`, () => runScale(ctx, SYSTEMS[name]));
          if (!r) continue;
          results[name]!.scale.push(r);
          progress.log(
            `  scale ${name} r${round}: ${r.reached} conns, RSS ${(r.rssPerConnBytes / 1024).toFixed(1)} KiB/conn` +
              (r.heapPerConnBytes !== null
                ? `, heap ${(r.heapPerConnBytes / 1024).toFixed(1)} KiB/conn`
                : '') +
              `, ${kfmt(r.loginsPerSec)} logins/s, ${r.cpuUsPerHeartbeat.toFixed(1)} µs/heartbeat`,
          );
        }
      }
    }
    if (opts.scenarios.includes('throughput')) {
      for (let round = 1; round <= opts.rounds; round++) {
        for (const name of runnable) {
          progress.step(`throughput ${name} round ${round}`, opts.warmupSeconds + opts.seconds + 3);
          await quiet();
          const r = await attempt(name, `throughput round ${round}`, () =>
            runThroughput(ctx, SYSTEMS[name]),
          );
          if (!r) continue;
          results[name]!.throughput.push(r);
          progress.log(
            `  throughput ${name} r${round}: ${kfmt(r.msgsPerSec)} msgs/s, ${r.serverCpuUsPerMsg.toFixed(1)} µs CPU/msg, ` +
              `server ${r.serverCores.toFixed(2)} / generator ${r.generatorCores.toFixed(2)} cores, cores busy ${r.coreBusy.map((b) => `${Math.round(b * 100)}%`).join('/')}`,
          );
          if (r.errors || r.dups || r.dropped) {
            ctx.notes.push(
              `${name} throughput r${round}: ${r.errors} errors, ${r.dups} duplicate deliveries, ${r.dropped} connections dropped ${r.errorSamples.slice(0, 2).join('; ')}`,
            );
          }
          if (r.generatorBound)
            ctx.notes.push(
              `${name} throughput r${round}: generator-bound: the generator's core was full (generator ${r.generatorCores.toFixed(2)} cores, CPU 0 ${Math.round(r.coreBusy[0] * 100)}% busy in all) ` +
                `and the server's was not (server ${r.serverCores.toFixed(2)}, CPU 1 ${Math.round(r.coreBusy[1] * 100)}%)`,
            );
        }
      }
    }
    if (opts.scenarios.includes('latency')) {
      const maxima = new Map<SystemName, number>();
      for (const name of runnable) {
        let max = median(results[name]!.throughput.map((t) => t.msgsPerSec));
        if (!Number.isFinite(max)) {
          progress.step(
            `maximum of ${name} (for the latency rates)`,
            opts.warmupSeconds + opts.seconds + 3,
          );
          const r = await attempt(name, 'maximum for latency', () =>
            runThroughput(ctx, SYSTEMS[name]),
          );
          max = r?.msgsPerSec ?? NaN;
        }
        maxima.set(name, max);
      }
      for (let round = 1; round <= opts.rounds; round++) {
        for (const name of runnable) {
          const max = maxima.get(name)!;
          const rates = [
            ...opts.fixedRates.map((offered) => ({ offered, kind: 'fixed' })),
            ...(Number.isFinite(max)
              ? opts.latencyPercents.map((p) => ({
                  offered: Math.round((max * p) / 100),
                  kind: `${p}% of max`,
                }))
              : []),
          ].sort((a, b) => a.offered - b.offered);
          await quiet();
          const r = await attempt(name, `latency round ${round}`, () =>
            runLatency(ctx, SYSTEMS[name], rates),
          );
          if (!r) continue;
          results[name]!.latency.push(r);
          progress.log(
            `  latency ${name} r${round}: ` +
              r.map((p) => `${kfmt(p.offered)}/s → p99 ${p.p99Ms.toFixed(2)} ms`).join(', '),
          );
        }
      }
    }
    if (opts.scenarios.includes('cluster')) cluster = await runCluster(ctx, quiet);
  } finally {
    progress.finish();
    await pool.stop();
    removeSnapshot();
  }
  const noisy = busyBefore.filter((b) => b.some((x) => x >= 0.15));
  if (noisy.length) {
    const perCore = (i: number) => `${Math.round(median(noisy.map((b) => b[i])) * 100)}%`;
    ctx.notes.push(
      `noise: ${noisy.length} of ${busyBefore.length} measurements started while other processes kept a core 15% busy or more ` +
        `after waiting ${quietWait / 1000} s (median busy share then: ${busyBefore[0].map((_, i) => perCore(i)).join(' / ')} for CPU 0 / CPU 1); ` +
        'see coreBusy of each window in the JSON',
    );
  }
  if (droppedConfigKeys.length) {
    ctx.notes.push(
      `this longlink build does not know ${droppedConfigKeys.join(', ')} (bench/compare.config.yaml): left out`,
    );
  }

  const summary: RunReport['summary'] = {};
  for (const name of runnable) summary[name] = summarise(results[name]!);
  for (const name of runnable) {
    const s = results[name]!.scale;
    for (const r of s) if (r.limit) ctx.notes.push(`${name} connection scale: ${r.limit}`);
    if (s.length && s[0].generatorProcesses > 1) {
      ctx.notes.push(
        `${name} connection scale: ${s[0].generatorProcesses} generator processes, source addresses ${s[0].sourceAddresses.join(', ')}`,
      );
    }
  }
  const genFd = readFdLimit('/proc/self/limits');
  const report: RunReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick: opts.quick,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpuModel: cpus()[0].model,
      cores: CORES,
      node: process.version,
      kernel: release(),
      mosquitto: mosquittoVersion(),
      pinning,
      generatorFdLimit: genFd,
      loadavgStart: [],
      loadavgEnd: loadavg(),
      coreBusyBefore,
    },
    options: { ...opts },
    systems: results,
    summary,
    ratios: ratios(summary, 'longlink'),
    targets: summary.longlink ? targets(summary, opts.fixedRates[0] ?? 10000) : [],
    cluster,
    clusterSummary: cluster && summariseCluster(cluster),
    notes: ctx.notes,
  };
  report.machine.loadavgStart = loadavgAtStart;
  const outDir = resolve(opts.out);
  mkdirSync(outDir, { recursive: true });
  // A cluster-only run has its own files, so that it leaves the full run's latest.* alone.
  const base = `${systemScenarios ? '' : 'cluster-'}latest${opts.quick ? '-quick' : ''}`;
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  if (systemScenarios) writeFileSync(join(outDir, `${base}.svg`), toSvg(report));
  const md = toMarkdown(report, `${base}.svg`);
  writeFileSync(join(outDir, `${base}.md`), md);
  console.log(md);
  console.log(`written: ${join(opts.out, base)}.{json,md${systemScenarios ? ',svg' : ''}}`);
}

/** The cluster scenario, every round: 1 node, 2 nodes, then the idle connections. */
async function runCluster(ctx: BenchContext, quiet: () => Promise<void>): Promise<ClusterResults> {
  const { opts, progress } = ctx;
  const c: ClusterResults = {
    failures: [],
    redisUrl: opts.redisUrl,
    postgresUrl: opts.postgresUrl,
    messaging: [],
    scale: [],
  };
  let backing: Backing;
  try {
    backing = await Backing.open(opts.redisUrl, opts.postgresUrl);
  } catch (err) {
    c.skipped = (err as Error).message;
    progress.log(`cluster: skipped: ${c.skipped}`);
    return c;
  }
  const attempt = async <T>(what: string, run: () => Promise<T>) => {
    try {
      return await run();
    } catch (err) {
      const msg = `cluster ${what}: ${(err as Error).message.split('\n')[0]}`;
      c.failures.push(msg);
      ctx.notes.push(msg);
      progress.log(`  FAILED ${msg}`);
      return null;
    }
  };
  for (let round = 1; round <= opts.rounds; round++) {
    for (const nodes of [1, 2] as const) {
      progress.step(
        `cluster ${nodes} node(s) round ${round}`,
        opts.warmupSeconds + opts.seconds + 5,
      );
      await quiet();
      const r = await attempt(`${nodes} node(s) round ${round}`, () =>
        runClusterMessaging(ctx, backing, nodes),
      );
      if (!r) continue;
      c.messaging.push(r);
      const t = r.throughput;
      const pg = r.backing.postgresUs;
      progress.log(
        `  cluster ${nodes} node(s) r${round}: ${kfmt(t.msgsPerSec)} msgs/s, nodes ${t.serverCpuUsPerMsg.toFixed(1)} µs CPU/msg` +
          (pg === null
            ? ''
            : `, PostgreSQL ${(pg / (t.msgsPerSec * t.seconds)).toFixed(1)} µs/msg`) +
          r.latency.map((p) => `; ${kfmt(p.offered)}/s → p99 ${p.p99Ms.toFixed(2)} ms`).join(''),
      );
    }
    await quiet();
    const s = await attempt(`idle connections round ${round}`, () => runClusterScale(ctx, backing));
    if (!s) continue;
    c.scale.push(s);
    const rss = s.perNode.map((p) => (p.rssPerConnBytes / 1024).toFixed(1)).join('/');
    progress.log(
      `  cluster scale r${round}: ${s.reached} conns on ${s.nodes} nodes, RSS ${rss} KiB/conn, ` +
        `${kfmt(s.loginsPerSec)} logins/s, ${s.cpuUsPerHeartbeat.toFixed(1)} µs/heartbeat`,
    );
  }
  return c;
}

const loadavgAtStart = loadavg();
process.once('SIGINT', () => {
  removeSnapshot();
  process.exit(130);
});
main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
