/**
 * Command-line options of `npm run bench`, with the defaults of a full run and
 * of `--quick` (a smoke run within two minutes).
 */
import { parseArgs } from 'node:util';
import { ALL_SYSTEMS, SystemName } from './servers';

export type Scenario = 'scale' | 'throughput' | 'latency' | 'cluster';
export const ALL_SCENARIOS: Scenario[] = ['scale', 'throughput', 'latency', 'cluster'];
/** Without --scenarios. The cluster scenario needs Redis and PostgreSQL, and takes minutes more. */
export const DEFAULT_SCENARIOS: Scenario[] = ['scale', 'throughput', 'latency'];

export interface BenchOptions {
  quick: boolean;
  systems: SystemName[];
  scenarios: Scenario[];
  rounds: number;
  /** Connection scale */
  connections: number;
  steps: number;
  heartbeatMs: number;
  holdSeconds: number;
  perProcess: number;
  perAddress: number;
  loginConcurrency: number;
  /** Throughput */
  pairs: number;
  window: number;
  warmupSeconds: number;
  seconds: number;
  /** Latency */
  latencySeconds: number;
  latencyPercents: number[];
  fixedRates: number[];
  maxInFlight: number;
  genProcs: number;
  quietWaitSeconds: number;
  out: string;
  progress: boolean;
  /** V8/Node flags for every Node.js server (longlink, relay, Aedes, Socket.IO). */
  serverNodeFlags: string[];
  /** Cluster: idle connections over `clusterNodes` node processes (more when needed). */
  clusterConnections: number;
  clusterNodes: number;
  clusterPerNode: number;
  redisUrl: string;
  postgresUrl: string;
}

export const USAGE = `npm run bench -- [options]
  --quick                 smoke run (< 2 min): 2k connections in 3 steps, 1.5 s windows, 1 round
  --systems a,b           ${ALL_SYSTEMS.join(',')}
  --scenarios a,b         scale,throughput,latency,cluster (default: all but cluster)
  --rounds N              repetitions of every measurement; medians are reported (3)
  --connections N         connection-scale target (10000); 100000+ spreads over processes and source addresses
  --steps N               ramp steps for the memory slope (5)
  --heartbeat-ms N        heartbeat interval of the idle clients (5000)
  --hold S                seconds of CPU measurement with heartbeats on, and again with them off (3)
  --per-process N         connections per generator process (19000; the open-file limit is 20000)
  --per-address N         connections per source address 127.0.0.x (20000)
  --login-concurrency N   logins in flight per generator process while ramping (64)
  --pairs P               sender→receiver pairs (4)
  --window W              messages in flight per sender, closed loop (64)
  --warmup S              seconds before each throughput window (2)
  --seconds S             throughput window (5)
  --latency-seconds S     window per open-loop rate (2)
  --latency-percents a,b  open-loop rates as % of each system's measured maximum (10,25,50,75)
  --fixed-rates a,b       open-loop rates in msgs/s run for every system (10000)
  --max-in-flight N       open loop: incomplete messages beyond which sends are skipped, over all pairs (50000)
  --gen-procs N           generator processes for throughput and latency (1)
  --out DIR               where latest.{json,md,svg} go (bench/results)
  --quiet-wait S          before each measurement, wait up to S s for other processes to calm down (3; 0 with --quick)
  --server-node-flags=F   flags for every Node.js server, space-separated (none)
  --no-progress           no progress bar
  --cluster-connections N cluster: idle connections over the nodes (20000; 4000 with --quick)
  --cluster-nodes N       cluster: node processes holding them (4), at least N / --cluster-per-node
  --cluster-per-node N    cluster: connections per node process at most (19000)
  --redis-url URL         cluster: Redis (redis://127.0.0.1:6379)
  --postgres-url URL      cluster: PostgreSQL database, created if missing (postgres://postgres@127.0.0.1:5432/longlink_bench)`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      systems: { type: 'string' },
      scenarios: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      steps: { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      hold: { type: 'string' },
      'per-process': { type: 'string' },
      'per-address': { type: 'string' },
      'login-concurrency': { type: 'string' },
      pairs: { type: 'string' },
      window: { type: 'string' },
      warmup: { type: 'string' },
      seconds: { type: 'string' },
      'latency-seconds': { type: 'string' },
      'latency-percents': { type: 'string' },
      'fixed-rates': { type: 'string' },
      'max-in-flight': { type: 'string' },
      'gen-procs': { type: 'string' },
      'quiet-wait': { type: 'string' },
      out: { type: 'string' },
      'server-node-flags': { type: 'string' },
      'no-progress': { type: 'boolean', default: false },
      'cluster-connections': { type: 'string' },
      'cluster-nodes': { type: 'string' },
      'cluster-per-node': { type: 'string' },
      'redis-url': { type: 'string' },
      'postgres-url': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick!;
  const num = (v: string | undefined, full: number, fast: number): number => {
    const n = v === undefined ? (quick ? fast : full) : Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`bad number: ${v}`);
    return n;
  };
  const list = (v: string | undefined, all: string[]): string[] => {
    if (v === undefined) return all;
    const chosen = v.split(',').map((s) => s.trim());
    const unknown = chosen.filter((s) => !all.includes(s));
    if (unknown.length)
      throw new Error(`unknown: ${unknown.join(', ')} (one of ${all.join(', ')})`);
    return chosen;
  };
  return {
    quick,
    systems: list(values.systems, ALL_SYSTEMS) as SystemName[],
    scenarios: (values.scenarios === undefined
      ? DEFAULT_SCENARIOS
      : list(values.scenarios, ALL_SCENARIOS)) as Scenario[],
    rounds: Math.max(1, num(values.rounds, 3, 1)),
    connections: num(values.connections, 10000, 2000),
    steps: Math.max(1, num(values.steps, 5, 3)),
    heartbeatMs: num(values['heartbeat-ms'], 5000, 2000),
    holdSeconds: num(values.hold, 3, 1),
    perProcess: Math.max(1, num(values['per-process'], 19000, 19000)),
    perAddress: Math.max(1, num(values['per-address'], 20000, 20000)),
    loginConcurrency: Math.max(1, num(values['login-concurrency'], 64, 64)),
    pairs: Math.max(1, num(values.pairs, 4, 4)),
    window: Math.max(1, num(values.window, 64, 64)),
    warmupSeconds: num(values.warmup, 2, 0.7),
    seconds: num(values.seconds, 5, 1.5),
    latencySeconds: num(values['latency-seconds'], 2, 0.7),
    latencyPercents: (values['latency-percents'] ?? '10,25,50,75').split(',').map(Number),
    fixedRates: (values['fixed-rates'] ?? '10000').split(',').filter(Boolean).map(Number),
    maxInFlight: num(values['max-in-flight'], 50000, 50000),
    genProcs: Math.max(1, num(values['gen-procs'], 1, 1)),
    quietWaitSeconds: num(values['quiet-wait'], 3, 0),
    out: values.out ?? 'bench/results',
    progress: !values['no-progress'],
    serverNodeFlags: (values['server-node-flags'] ?? '').split(' ').filter(Boolean),
    clusterConnections: num(values['cluster-connections'], 20000, 4000),
    clusterNodes: Math.max(1, num(values['cluster-nodes'], 4, 4)),
    clusterPerNode: Math.max(1, num(values['cluster-per-node'], 19000, 19000)),
    redisUrl: values['redis-url'] ?? 'redis://127.0.0.1:6379',
    postgresUrl: values['postgres-url'] ?? 'postgres://postgres@127.0.0.1:5432/longlink_bench',
  };
}
