/**
 * The run's results: raw rounds per system and scenario, their medians, the
 * ratios longlink / peer and the targets for longlink.
 */
import type { ClusterResults, ClusterSummary } from './cluster';
import { LatencyPoint } from '../scenarios/latency';
import { ScaleResult } from '../scenarios/scale';
import { ThroughputResult } from '../scenarios/throughput';
import { SystemName } from '../servers';
import { median } from '../stats';

export interface SystemResults {
  label: string;
  skipped?: string;
  failures: string[];
  scale: ScaleResult[];
  throughput: ThroughputResult[];
  latency: LatencyPoint[][];
}

export interface LatencySummary {
  offered: number;
  kind: string;
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  serverCpuUsPerMsg: number;
  generatorCores: number;
}

export interface SystemSummary {
  label: string;
  connections: number | null;
  rssPerConnKiB: number | null;
  heapPerConnKiB: number | null;
  loginsPerSec: number | null;
  cpuUsPerLogin: number | null;
  cpuUsPerHeartbeat: number | null;
  heartbeatCorePct: number | null;
  msgsPerSec: number | null;
  cpuUsPerMsg: number | null;
  serverCores: number | null;
  generatorCores: number | null;
  generatorBound: boolean;
  /** Median busy share of each core (all processes) during the throughput windows. */
  coreBusy: number[];
  /** Server RSS growth over the throughput window per completed message (stores keep messages). */
  rssGrowthPerMsgBytes: number | null;
  latency: LatencySummary[];
  /** The point at the first fixed rate (10k msgs/s by default). */
  atFixed: LatencySummary | null;
}

export interface Ratio {
  peer: SystemName;
  throughput: number | null;
  cpuPerMsg: number | null;
  p99AtFixed: number | null;
  rssPerConn: number | null;
  heapPerConn: number | null;
  loginRate: number | null;
}

export interface Target {
  what: string;
  value: number | null;
  limit: number;
  unit: string;
  pass: boolean | null;
}

export interface RunReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  command: string;
  machine: {
    cpuModel: string;
    cores: number;
    node: string;
    kernel: string;
    mosquitto: string | null;
    pinning: string;
    generatorFdLimit: { soft: number; hard: number };
    loadavgStart: number[];
    loadavgEnd: number[];
    /** Busy share of each core, all processes, in the half second before the run. */
    coreBusyBefore: number[];
  };
  options: Record<string, unknown>;
  systems: Partial<Record<SystemName, SystemResults>>;
  summary: Partial<Record<SystemName, SystemSummary>>;
  ratios: Ratio[];
  targets: Target[];
  /** The cluster scenario, when it ran. */
  cluster?: ClusterResults;
  clusterSummary?: ClusterSummary;
  notes: string[];
}

const nz = (x: number): number | null => (Number.isFinite(x) ? x : null);

function medianOrNull(xs: number[]): number | null {
  return nz(median(xs));
}

export function summarise(r: SystemResults): SystemSummary {
  const byRate = new Map<number, LatencyPoint[]>();
  for (const round of r.latency) {
    for (const p of round) byRate.set(p.offered, [...(byRate.get(p.offered) ?? []), p]);
  }
  const latency: LatencySummary[] = [...byRate.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([offered, ps]) => ({
      offered,
      kind: ps[0].kind,
      achieved: median(ps.map((p) => p.achieved)),
      p50Ms: median(ps.map((p) => p.p50Ms)),
      p99Ms: median(ps.map((p) => p.p99Ms)),
      p999Ms: median(ps.map((p) => p.p999Ms)),
      serverCpuUsPerMsg: median(ps.map((p) => p.serverCpuUsPerMsg)),
      generatorCores: median(ps.map((p) => p.generatorCores)),
    }));
  const s = r.scale;
  const t = r.throughput;
  return {
    label: r.label,
    connections: s.length ? median(s.map((x) => x.reached)) : null,
    rssPerConnKiB: medianOrNull(s.map((x) => x.rssPerConnBytes / 1024)),
    heapPerConnKiB: medianOrNull(
      s.filter((x) => x.heapPerConnBytes !== null).map((x) => x.heapPerConnBytes! / 1024),
    ),
    loginsPerSec: medianOrNull(s.map((x) => x.loginsPerSec)),
    cpuUsPerLogin: medianOrNull(s.map((x) => x.serverCpuUsPerLogin)),
    cpuUsPerHeartbeat: medianOrNull(s.map((x) => x.cpuUsPerHeartbeat)),
    heartbeatCorePct: medianOrNull(s.map((x) => x.heartbeatCpuCores * 100)),
    msgsPerSec: medianOrNull(t.map((x) => x.msgsPerSec)),
    cpuUsPerMsg: medianOrNull(t.map((x) => x.serverCpuUsPerMsg)),
    serverCores: medianOrNull(t.map((x) => x.serverCores)),
    generatorCores: medianOrNull(t.map((x) => x.generatorCores)),
    generatorBound: t.filter((x) => x.generatorBound).length * 2 > t.length,
    coreBusy: t.length ? t[0].coreBusy.map((_, i) => median(t.map((x) => x.coreBusy[i]))) : [],
    rssGrowthPerMsgBytes: medianOrNull(
      t.map((x) => (x.rssEndBytes - x.rssStartBytes) / (x.msgsPerSec * x.seconds)),
    ),
    latency,
    atFixed: latency.find((p) => p.kind === 'fixed') ?? null,
  };
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return nz(a / b);
}

export function ratios(
  summary: Partial<Record<SystemName, SystemSummary>>,
  subject: SystemName,
): Ratio[] {
  const ll = summary[subject];
  if (!ll) return [];
  return (Object.keys(summary) as SystemName[])
    .filter((n) => n !== subject)
    .map((peer) => {
      const p = summary[peer]!;
      return {
        peer,
        throughput: ratio(ll.msgsPerSec, p.msgsPerSec),
        cpuPerMsg: ratio(ll.cpuUsPerMsg, p.cpuUsPerMsg),
        p99AtFixed: ratio(ll.atFixed?.p99Ms, p.atFixed?.p99Ms),
        rssPerConn: ratio(ll.rssPerConnKiB, p.rssPerConnKiB),
        heapPerConn: ratio(ll.heapPerConnKiB, p.heapPerConnKiB),
        loginRate: ratio(ll.loginsPerSec, p.loginsPerSec),
      };
    });
}

/** The targets for longlink, from the same run. */
export function targets(
  summary: Partial<Record<SystemName, SystemSummary>>,
  fixedRate: number,
): Target[] {
  const ll = summary.longlink;
  const relay = summary.relay;
  const check = (v: number | null, limit: number, atMost: boolean) =>
    v === null ? null : atMost ? v <= limit : v >= limit;
  const tp = ratio(ll?.msgsPerSec, relay?.msgsPerSec);
  const cpu = ratio(ll?.cpuUsPerMsg, relay?.cpuUsPerMsg);
  const p99 = ll?.atFixed?.p99Ms ?? null;
  const rss = ratio(ll?.rssPerConnKiB, relay?.rssPerConnKiB);
  return [
    { what: 'throughput / relay', value: tp, limit: 0.6, unit: '×', pass: check(tp, 0.6, false) },
    {
      what: 'server CPU per message / relay',
      value: cpu,
      limit: 1.6,
      unit: '×',
      pass: check(cpu, 1.6, true),
    },
    {
      what: `p99 at ${fixedRate} msgs/s`,
      value: nz(p99 ?? NaN),
      limit: 2,
      unit: 'ms',
      pass: check(nz(p99 ?? NaN), 2, true),
    },
    {
      what: 'RSS per idle connection / relay',
      value: rss,
      limit: 1.1,
      unit: '×',
      pass: check(rss, 1.1, true),
    },
  ];
}
