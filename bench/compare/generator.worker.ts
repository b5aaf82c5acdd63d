/**
 * One load-generator process, driven by the orchestrator over IPC. It holds idle
 * heartbeating clients (connection scale) or sender→receiver pairs (throughput,
 * latency) of one system at a time, and reports counters, its own CPU and the
 * latency histogram. Several of these run when one process cannot hold every
 * connection (the per-process open-file limit) or one event loop is too slow.
 */
import { encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  Driver,
  IdleClient,
  LoadStats,
  PairClient,
  Protocol,
  newHistogram,
} from './drivers/driver';
import { LonglinkDriver } from './drivers/longlink.driver';
import { MqttDriver } from './drivers/mqtt.driver';
import { SocketIoDriver } from './drivers/socketio.driver';
import { localEndpoint } from './addresses';

export type WorkerCommand =
  | { cmd: 'driver'; protocol: Protocol; port: number; rxPort?: number }
  | { cmd: 'prepare'; uids: string[] }
  | {
      cmd: 'idle';
      from: number;
      to: number;
      perAddress: number;
      concurrency: number;
      /** longlink cluster: client j connects to ports[j % ports.length]. */
      ports?: number[];
    }
  | { cmd: 'heartbeats'; intervalMs: number }
  | { cmd: 'idle-close' }
  | { cmd: 'pairs'; indices: number[] }
  | { cmd: 'window'; window: number }
  | { cmd: 'rate'; rate: number; maxInFlight: number }
  | { cmd: 'record'; on: boolean }
  | { cmd: 'stats'; histogram?: boolean }
  | { cmd: 'pairs-close' };

export interface WorkerStats {
  sent: number;
  sendAcks: number;
  delivered: number;
  completed: number;
  outstanding: number;
  dups: number;
  errors: number;
  kicks: number;
  dropped: number;
  suppressed: number;
  heartbeatsSent: number;
  heartbeatReplies: number;
  errorSamples: string[];
  cpuUs: number;
  rssBytes: number;
  idle: number;
  histogram?: string;
}

export interface IdleResult {
  connected: number;
  failed: number;
  firstError?: string;
  ms: number;
}

const HEARTBEAT_TICK_MS = 50;

let stats = new LoadStats();
let driver: Driver | undefined;
let idle: IdleClient[] = [];
let pairs: PairClient[] = [];
let heartbeatTimer: NodeJS.Timeout | undefined;
let rateTimer: NodeJS.Timeout | undefined;

function needDriver(): Driver {
  if (!driver) throw new Error('no driver chosen');
  return driver;
}

async function connectIdle(c: Extract<WorkerCommand, { cmd: 'idle' }>): Promise<IdleResult> {
  const d = needDriver();
  const t0 = performance.now();
  let next = c.from;
  let failed = 0;
  let firstError: string | undefined;
  if (c.ports && d.protocol !== 'longlink') throw new Error('several ports: longlink only');
  const worker = async () => {
    while (next < c.to) {
      const j = next++;
      try {
        const port = c.ports?.[j % c.ports.length];
        idle.push(await d.idle(`u-${j}`, localEndpoint(j, c.perAddress), port));
      } catch (err) {
        failed++;
        const from = localEndpoint(j, c.perAddress);
        firstError ??= `${(err as Error).message} (client ${j}, from ${from.address}:${from.port})`;
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  return { connected: c.to - c.from - failed, failed, firstError, ms: performance.now() - t0 };
}

/** Every client heartbeats once per interval, spread evenly over the interval. */
function startHeartbeats(intervalMs: number): void {
  clearInterval(heartbeatTimer);
  heartbeatTimer = undefined;
  if (intervalMs <= 0) return;
  const slots = Math.max(1, Math.round(intervalMs / HEARTBEAT_TICK_MS));
  let slot = 0;
  heartbeatTimer = setInterval(() => {
    for (let i = slot; i < idle.length; i += slots) idle[i].heartbeat();
    slot = (slot + 1) % slots;
  }, HEARTBEAT_TICK_MS);
}

/**
 * Open loop: every millisecond, sends what the fixed rate makes due since the
 * start, spread round-robin over the pairs, whether or not earlier messages were
 * answered. A pair with more than maxInFlight incomplete messages is skipped
 * (counted as suppressed), so an overloaded system cannot exhaust memory.
 */
function startRate(rate: number, maxInFlight: number): void {
  clearInterval(rateTimer);
  rateTimer = undefined;
  if (rate <= 0 || pairs.length === 0) return;
  const t0 = performance.now();
  let issued = 0;
  let rr = 0;
  const n = pairs.length;
  rateTimer = setInterval(() => {
    const due = Math.floor((rate * (performance.now() - t0)) / 1000) - issued;
    if (due <= 0) return;
    issued += due;
    const base = Math.floor(due / n);
    const extra = due - base * n;
    for (let k = 0; k < n; k++) {
      const count = base + ((k - rr + n) % n < extra ? 1 : 0);
      if (count === 0) continue;
      const p = pairs[k];
      if (p.sent() - p.completed() > maxInFlight) stats.suppressed += count;
      else p.send(count);
    }
    rr = (rr + extra) % n;
  }, 1);
}

function snapshot(withHistogram: boolean): WorkerStats {
  const cpu = process.cpuUsage();
  let completed = 0;
  let outstanding = 0;
  for (const p of pairs) {
    const c = p.completed();
    completed += c;
    outstanding += p.sent() - c;
  }
  return {
    sent: stats.sent,
    sendAcks: stats.sendAcks,
    delivered: stats.delivered,
    completed,
    outstanding,
    dups: stats.dups,
    errors: stats.errors,
    kicks: stats.kicks,
    dropped: stats.dropped,
    suppressed: stats.suppressed,
    heartbeatsSent: stats.heartbeatsSent,
    heartbeatReplies: stats.heartbeatReplies,
    errorSamples: [...stats.errorSamples],
    cpuUs: cpu.user + cpu.system,
    rssBytes: process.memoryUsage.rss(),
    idle: idle.length,
    histogram: withHistogram ? encodeIntoCompressedBase64(stats.hist) : undefined,
  };
}

async function handle(c: WorkerCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'driver':
      stats = new LoadStats();
      driver =
        c.protocol === 'longlink' || c.protocol === 'longlink-ws'
          ? new LonglinkDriver(c.port, stats, c.rxPort, c.protocol === 'longlink-ws' ? 'ws' : 'tcp')
          : c.protocol === 'mqtt'
            ? new MqttDriver(c.port, stats)
            : new SocketIoDriver(c.port, stats);
      return null;
    case 'prepare':
      return needDriver().prepare(c.uids);
    case 'idle':
      return connectIdle(c);
    case 'heartbeats':
      startHeartbeats(c.intervalMs);
      return null;
    case 'idle-close':
      startHeartbeats(0);
      idle.forEach((i) => i.close());
      idle = [];
      return null;
    case 'pairs': {
      const d = needDriver();
      for (const i of c.indices) pairs.push(await d.pair(i));
      return null;
    }
    case 'window':
      pairs.forEach((p) => p.setWindow(c.window));
      return null;
    case 'rate':
      startRate(c.rate, c.maxInFlight);
      return null;
    case 'record':
      stats.recording = c.on;
      if (c.on) stats.hist = newHistogram();
      return null;
    case 'stats':
      return snapshot(c.histogram === true);
    case 'pairs-close':
      startRate(0, 0);
      pairs.forEach((p) => p.close());
      pairs = [];
      return null;
  }
}

process.on('message', (message: { id: number; command: WorkerCommand }) => {
  handle(message.command).then(
    (result) => process.send!({ id: message.id, ok: true, result }),
    (err: unknown) =>
      process.send!({ id: message.id, ok: false, error: (err as Error).stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
