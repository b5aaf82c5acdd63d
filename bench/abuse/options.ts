import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PHASES, PhaseName } from './phases';

export const USAGE = `usage: npm run abuse -- [options]
  --seconds S           length of each phase (default 10); slowloris and never-reads last longer
                        when the gateway's timeouts need it (login deadline, ack timeout)
  --phases a,b          phases to run, in the standard order (default: all):
                        ${PHASES.join(', ')}
                        (baseline is always run first)
  --rate N              bystander SENDs per second, over all pairs (default 300)
  --pairs P             bystander sender→recipient pairs (default 4); each connection must stay
                        under the gateway's rateLimit.maxPackets (200 frames/s), and each sender
                        under the abuse config's send-per-user bucket (100 SENDs/s)
  --heartbeat-gap-ms N  pause between the bystander's heartbeat round trips (default 10)
  --allowance-ms X      absolute allowance added to 1.2 × baseline p99, for timer noise (default 1)
  --slow-connections N  never-login connections of the slowloris phase (default 3000)
  --dribblers N         logged-in clients of the slowloris phase that send one byte a second of a
                        frame that never completes (default 20); heartbeat.timeoutMs (90 s) stops
                        them, so the run waits for that at its end; 0 skips them
  --attacker-nice N     scheduling of the attacker process, which shares CPU 0 with the
                        measuring process: \`idle\` (default): SCHED_IDLE, it runs only when
                        CPU 0 has nothing else to run, so it never delays the bystanders'
                        timestamps; or a nice level (0 to see what an equal share does)
  --warmup S            seconds of bystander traffic before the first baseline (default 3)
  --quiet-wait S        before each phase, wait up to S s for both cores to be under 15% busy
                        (other people's processes: noise) (default 10; 0: never wait)
  --noisy-retries N     run a phase again, up to N times, when other processes took more than 15%
                        of a core during it and it failed (or it is the baseline) (default 2, at most 2)
  --seed S              seed of the fuzz phase and the spoofer (default: random, printed)
  --gateway-node-flags=F
                        Node.js flags for the gateway, space-separated (default none, as
                        \`npm run start:prod\`); e.g. '--single-threaded-gc', which keeps V8's GC
                        helper threads off the gateway's only core
  --build               run \`nest build\` first (otherwise dist/main.js must exist)
  --out DIR             where abuse-latest.{md,json} go (default bench/results)
  --json FILE           also write the JSON report to FILE`;

export interface AbuseOptions {
  seconds: number;
  phases: PhaseName[];
  rate: number;
  pairs: number;
  heartbeatGapMs: number;
  allowanceMs: number;
  slowConnections: number;
  dribblers: number;
  attackerNice: number | 'idle';
  warmupSeconds: number;
  quietWaitSeconds: number;
  noisyRetries: number;
  seed: number;
  gatewayNodeFlags: string[];
  build: boolean;
  outDir: string;
  json: string | undefined;
}

export class UsageError extends Error {}

function numberOf(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number ≥ ${min} (got ${value})`);
  }
  return n;
}

export function parseOptions(argv: string[]): AbuseOptions | 'help' {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        seconds: { type: 'string' },
        phases: { type: 'string' },
        rate: { type: 'string' },
        pairs: { type: 'string' },
        'heartbeat-gap-ms': { type: 'string' },
        'allowance-ms': { type: 'string' },
        'slow-connections': { type: 'string' },
        dribblers: { type: 'string' },
        'attacker-nice': { type: 'string' },
        warmup: { type: 'string' },
        'quiet-wait': { type: 'string' },
        'noisy-retries': { type: 'string' },
        seed: { type: 'string' },
        'gateway-node-flags': { type: 'string' },
        build: { type: 'boolean' },
        out: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  let phases: PhaseName[] = [...PHASES];
  if (values.phases !== undefined) {
    const asked = values.phases.split(',').map((p) => p.trim());
    const unknown = asked.filter((p) => !(PHASES as readonly string[]).includes(p));
    if (unknown.length > 0) throw new UsageError(`unknown phase(s): ${unknown.join(', ')}`);
    phases = PHASES.filter((p) => p === 'baseline' || asked.includes(p));
  }
  const pairs = numberOf('pairs', values.pairs, 4, 1);
  const rate = numberOf('rate', values.rate, 300, 1);
  return {
    seconds: numberOf('seconds', values.seconds, 10, 1),
    phases,
    rate,
    pairs: Math.floor(pairs),
    heartbeatGapMs: numberOf('heartbeat-gap-ms', values['heartbeat-gap-ms'], 10, 1),
    allowanceMs: numberOf('allowance-ms', values['allowance-ms'], 1),
    slowConnections: Math.floor(numberOf('slow-connections', values['slow-connections'], 3000, 1)),
    dribblers: Math.floor(numberOf('dribblers', values.dribblers, 20)),
    attackerNice:
      (values['attacker-nice'] ?? 'idle') === 'idle'
        ? 'idle'
        : Math.floor(numberOf('attacker-nice', values['attacker-nice'], 0)),
    warmupSeconds: numberOf('warmup', values.warmup, 3),
    quietWaitSeconds: numberOf('quiet-wait', values['quiet-wait'], 10),
    // Each attempt takes its own address blocks (block + 100 × attempt ≤ 255).
    noisyRetries: Math.min(2, Math.floor(numberOf('noisy-retries', values['noisy-retries'], 2))),
    seed: Math.floor(numberOf('seed', values.seed, Math.floor(Math.random() * 2 ** 32))) >>> 0,
    gatewayNodeFlags: (values['gateway-node-flags'] ?? '').split(/\s+/).filter((f) => f !== ''),
    build: values.build === true,
    outDir: values.out ?? join(__dirname, '..', 'results'),
    json: values.json,
  };
}
