/** The cluster scenario's rounds, their medians, and its Markdown section. */
import { BackingCpu } from '../cluster';
import { ClusterMessagingResult, ClusterScaleResult } from '../scenarios/cluster';
import { median } from '../stats';
import { SystemSummary, summarise } from './summary';

export interface ClusterResults {
  skipped?: string;
  failures: string[];
  redisUrl: string;
  postgresUrl: string;
  messaging: ClusterMessagingResult[];
  scale: ClusterScaleResult[];
}

export interface ClusterMessagingSummary extends SystemSummary {
  nodes: number;
  redisCores: number | null;
  redisUsPerMsg: number | null;
  postgresCores: number | null;
  postgresUsPerMsg: number | null;
}

export interface ClusterScaleSummary {
  nodes: number;
  target: number;
  reached: number;
  /** Median over rounds of the median (and the extremes) over nodes. */
  rssPerConnKiB: number;
  rssPerConnKiBMin: number;
  rssPerConnKiBMax: number;
  heapPerConnKiB: number | null;
  loginsPerSec: number;
  nodeCpuUsPerLogin: number;
  redisUsPerLogin: number | null;
  postgresUsPerLogin: number | null;
  cpuUsPerHeartbeat: number;
  heartbeatCorePct: number;
  redisBytesPerConn: number;
  /** Median busy share of each core (all processes) while heartbeating. */
  coreBusy: number[];
  generatorRssMiB: number;
  limits: string[];
}

export interface ClusterSummary {
  messaging: ClusterMessagingSummary[];
  scale: ClusterScaleSummary | null;
}

const nn = (x: number): number | null => (Number.isFinite(x) ? x : null);
const per = (us: number | null, count: number) => (us === null ? NaN : us / count);
const cores = (b: BackingCpu, us: number | null) => (us === null ? NaN : us / 1e6 / b.seconds);

export function summariseCluster(c: ClusterResults): ClusterSummary {
  const messaging = [1, 2].flatMap((nodes): ClusterMessagingSummary[] => {
    const rounds = c.messaging.filter((m) => m.nodes === nodes);
    if (!rounds.length) return [];
    const label =
      nodes === 1
        ? '1 node (cluster mode on; both ends on it)'
        : '2 nodes (senders on 1, receivers on 2)';
    const done = (m: ClusterMessagingResult) => m.throughput.msgsPerSec * m.throughput.seconds;
    const s = summarise({
      label,
      failures: [],
      scale: [],
      throughput: rounds.map((m) => m.throughput),
      latency: rounds.map((m) => m.latency),
    });
    const med = (f: (m: ClusterMessagingResult) => number) => nn(median(rounds.map(f)));
    return [
      {
        ...s,
        nodes,
        redisCores: med((m) => cores(m.backing, m.backing.redisUs)),
        redisUsPerMsg: med((m) => per(m.backing.redisUs, done(m))),
        postgresCores: med((m) => cores(m.backing, m.backing.postgresUs)),
        postgresUsPerMsg: med((m) => per(m.backing.postgresUs, done(m))),
      },
    ];
  });
  const r = c.scale;
  if (!r.length) return { messaging, scale: null };
  const med = (f: (x: ClusterScaleResult) => number) => median(r.map(f));
  const rss = (x: ClusterScaleResult) => x.perNode.map((p) => p.rssPerConnBytes / 1024);
  const heaps = r.flatMap((x) =>
    x.perNode.every((p) => p.heapPerConnBytes !== null)
      ? [median(x.perNode.map((p) => p.heapPerConnBytes! / 1024))]
      : [],
  );
  return {
    messaging,
    scale: {
      nodes: r[0].nodes,
      target: r[0].target,
      reached: med((x) => x.reached),
      rssPerConnKiB: med((x) => median(rss(x))),
      rssPerConnKiBMin: med((x) => Math.min(...rss(x))),
      rssPerConnKiBMax: med((x) => Math.max(...rss(x))),
      heapPerConnKiB: heaps.length ? median(heaps) : null,
      loginsPerSec: med((x) => x.loginsPerSec),
      nodeCpuUsPerLogin: med((x) => x.nodeCpuUsPerLogin),
      redisUsPerLogin: nn(med((x) => per(x.backingDuringRamp.redisUs, x.reached))),
      postgresUsPerLogin: nn(med((x) => per(x.backingDuringRamp.postgresUs, x.reached))),
      cpuUsPerHeartbeat: med((x) => x.cpuUsPerHeartbeat),
      heartbeatCorePct: med((x) => x.heartbeatCores * 100),
      redisBytesPerConn: med((x) => x.redisBytesPerConn),
      coreBusy: r[0].coreBusy.map((_, i) => med((x) => x.coreBusy[i])),
      generatorRssMiB: med((x) => x.generatorRssBytes / 2 ** 20),
      limits: r.flatMap((x) => (x.limit ? [x.limit] : [])),
    },
  };
}

function f(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
const table = (head: string[], rows: string[][]) => [
  row(head),
  row(head.map(() => '---')),
  ...rows.map(row),
];

export function clusterMarkdown(
  c: ClusterResults,
  s: ClusterSummary,
  o: Record<string, unknown>,
): string[] {
  const lines = ['## Cluster: Redis presence and routing, PostgreSQL store', ''];
  if (c.skipped) return [...lines, `Skipped: ${c.skipped}`, ''];
  lines.push(
    `Redis ${c.redisUrl}, PostgreSQL ${c.postgresUrl} (a fresh schema and key prefix per node set). ` +
      'Every node is a `node dist/main.js` process pinned to CPU 1 like the other servers: **the nodes share one core**, ' +
      'so these figures show what the cluster path costs, not scale-out. Redis and PostgreSQL are not pinned (they take ' +
      'CPU from either core) and are measured apart, from /proc of their processes (pgrep): PostgreSQL counts the ' +
      "backends of the bench's database and its own background processes; Redis is counted whole (shared with anyone else using it).",
    '',
  );
  if (s.messaging.length) {
    const fixed = (o.fixedRates as number[]).join(', ');
    lines.push(
      `### Messaging: ${o.pairs} pairs × ${o.window} in flight (closed loop, ${o.seconds} s), then open loop at ${fixed} msgs/s (${o.latencySeconds} s)`,
      '',
      ...table(
        [
          'nodes',
          'msgs/s (closed loop)',
          'nodes µs CPU/msg',
          'nodes cores',
          'PostgreSQL µs CPU/msg (cores)',
          'Redis µs CPU/msg (cores)',
          'generator cores',
          'cores busy CPU 0 / CPU 1',
          'open loop: offered → achieved msgs/s',
          'p50 / p99 / p99.9 ms',
          'nodes µs CPU/msg (open loop)',
        ],
        s.messaging.flatMap((m) =>
          (m.latency.length ? m.latency : [null]).map((p, i) => [
            i ? '' : m.label,
            i ? '' : f(m.msgsPerSec, 0) + (m.generatorBound ? ' (generator-bound)' : ''),
            i ? '' : f(m.cpuUsPerMsg),
            i ? '' : f(m.serverCores, 2),
            i ? '' : `${f(m.postgresUsPerMsg)} (${f(m.postgresCores, 2)})`,
            i ? '' : `${f(m.redisUsPerMsg)} (${f(m.redisCores, 2)})`,
            i ? '' : f(m.generatorCores, 2),
            i ? '' : m.coreBusy.map((b) => `${Math.round(b * 100)}%`).join(' / '),
            p ? `${f(p.offered, 0)} → ${f(p.achieved, 0)}` : '–',
            p ? `${f(p.p50Ms, 2)} / ${f(p.p99Ms, 2)} / ${f(p.p999Ms, 2)}` : '–',
            p ? f(p.serverCpuUsPerMsg) : '–',
          ]),
        ),
      ),
      '',
      'A message is complete when the sender has its SEND reply and the receiver has acknowledged the MSG. ' +
        'With 2 nodes each SEND is stored by node 1 in PostgreSQL, node 1 looks the receiver up in Redis and publishes ' +
        "on node 2's channel, and node 2 pushes it. Nodes µs CPU/msg: the sum over the node processes.",
      '',
    );
  }
  const sc = s.scale;
  if (sc) {
    lines.push(
      `### Idle connections over ${sc.nodes} node processes (heartbeat every ${o.heartbeatMs} ms)`,
      '',
      ...table(
        [
          'target',
          'reached',
          'nodes',
          'RSS/conn KiB per node: median (min–max)',
          'heap/conn KiB',
          'logins/s',
          'µs CPU/login: nodes / Redis / PostgreSQL',
          'nodes µs CPU/heartbeat',
          'nodes % of a core heartbeating',
          'cores busy CPU 0 / CPU 1',
          'Redis B/conn',
          'generator RSS MiB (all processes)',
        ],
        [
          [
            f(sc.target, 0),
            f(sc.reached, 0),
            String(sc.nodes),
            `${f(sc.rssPerConnKiB)} (${f(sc.rssPerConnKiBMin)}–${f(sc.rssPerConnKiBMax)})`,
            f(sc.heapPerConnKiB),
            f(sc.loginsPerSec, 0),
            `${f(sc.nodeCpuUsPerLogin, 0)} / ${f(sc.redisUsPerLogin, 0)} / ${f(sc.postgresUsPerLogin, 0)}`,
            f(sc.cpuUsPerHeartbeat),
            f(sc.heartbeatCorePct),
            sc.coreBusy.map((b) => `${Math.round(b * 100)}%`).join(' / '),
            f(sc.redisBytesPerConn, 0),
            f(sc.generatorRssMiB, 0),
          ],
        ],
      ),
      '',
      `Client j logs in on node j mod ${sc.nodes}, from 127.0.0.(2 + j / ${o.perAddress}), held by generator process j / ${o.perProcess}; ` +
        'RSS and heap (after forced GCs) per connection are the slope across the ramp steps, per node. ' +
        'Redis B/conn: growth of INFO used_memory (presence) per connection. ' +
        `More connections: \`--cluster-connections N\` starts ceil(N / ${o.clusterPerNode}) nodes and ceil(N / ${o.perProcess}) generator processes.`,
      '',
    );
    for (const l of sc.limits) lines.push(`- limit: ${l}`);
    if (sc.limits.length) lines.push('');
  }
  return lines;
}
