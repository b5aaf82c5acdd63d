/**
 * Starting, probing and stopping the systems under test. Every server runs on
 * CPU 1 (taskset) when the machine has two cores or more, behind a `sh` that
 * first raises its open-file limit as far as the hard limit allows, then execs,
 * so the pid we hold is the server's own and /proc accounting is exact.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PINNED, cpuMicros, freePort, waitForPort } from '../support/process';
import { Protocol } from './drivers/driver';

const ROOT = join(__dirname, '..', '..');
/** Where the longlink build under test lives: a private copy, see snapshotLonglink(). */
let longlinkRoot = ROOT;
const HEAP_PROBE = join(__dirname, 'heap-probe.mjs');
export const MOSQUITTO_BIN = [
  '/usr/sbin/mosquitto',
  '/usr/bin/mosquitto',
  '/usr/local/sbin/mosquitto',
];

export type SystemName =
  | 'longlink'
  | 'longlink-sqlite'
  | 'longlink-ws'
  | 'longlink-limits'
  | 'relay'
  | 'mosquitto'
  | 'aedes'
  | 'socketio';

export const ALL_SYSTEMS: SystemName[] = [
  'longlink',
  'longlink-sqlite',
  'longlink-ws',
  'longlink-limits',
  'relay',
  'mosquitto',
  'aedes',
  'socketio',
];

export interface SystemInfo {
  name: SystemName;
  label: string;
  protocol: Protocol;
  /** A Node process: its JS heap can be probed after a forced GC. */
  node: boolean;
  /** The connection-scale scenario does not depend on the store: run it once for longlink. */
  scale: boolean;
}

export const SYSTEMS: Record<SystemName, SystemInfo> = {
  longlink: {
    name: 'longlink',
    label: 'longlink (memory store)',
    protocol: 'longlink',
    node: true,
    scale: true,
  },
  'longlink-sqlite': {
    name: 'longlink-sqlite',
    label: 'longlink (SQLite store)',
    protocol: 'longlink',
    node: true,
    scale: false,
  },
  'longlink-ws': {
    name: 'longlink-ws',
    label: 'longlink over WebSocket (memory store)',
    protocol: 'longlink-ws',
    node: true,
    scale: true,
  },
  'longlink-limits': {
    name: 'longlink-limits',
    label: 'longlink with rate rules on (memory store)',
    protocol: 'longlink',
    node: true,
    scale: false,
  },
  relay: {
    name: 'relay',
    label: 'bare node:net relay',
    protocol: 'longlink',
    node: true,
    scale: true,
  },
  mosquitto: { name: 'mosquitto', label: 'Mosquitto', protocol: 'mqtt', node: false, scale: true },
  aedes: { name: 'aedes', label: 'Aedes', protocol: 'mqtt', node: true, scale: true },
  socketio: { name: 'socketio', label: 'Socket.IO', protocol: 'socketio', node: true, scale: true },
};

export interface StartOptions {
  /** Heartbeat interval the server announces or drives (Socket.IO pings). */
  heartbeatMs: number;
  /** Preload the heap probe (connection scale). */
  heapProbe: boolean;
  /** Open files wanted; the hard limit caps it. */
  wantFds: number;
  /** Flags for Node.js servers (BenchOptions.serverNodeFlags). */
  nodeFlags: string[];
  /** longlink only: run it as a node of this cluster (Redis, PostgreSQL store). */
  cluster?: ClusterNodeConfig;
}

/** What makes a longlink process a cluster node (see docs/CLUSTER.md). */
export interface ClusterNodeConfig {
  redisUrl: string;
  keyPrefix: string;
  postgresUrl: string;
  nodeId: string;
  /** PostgreSQL connections of this node (max_connections is shared by every node). */
  poolSize: number;
}

export interface FdLimit {
  soft: number;
  hard: number;
}

export interface MemoryProbe {
  rssBytes: number;
  heapUsedBytes: number | null;
}

export class ServerHandle {
  private stderrTail: string[] = [];

  constructor(
    readonly system: SystemInfo,
    readonly port: number,
    readonly child: ChildProcess,
    private readonly workDir: string,
    private readonly heapSocket: string | null,
  ) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderrTail.push(...text.split('\n').filter((l) => l.trim() !== ''));
      if (this.stderrTail.length > 20) this.stderrTail.splice(0, this.stderrTail.length - 20);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The server's last stderr lines (errors, warnings). */
  stderr(): string[] {
    return [...this.stderrTail];
  }

  /**
   * CPU time of the server so far, in µs: the sum over its threads of
   * /proc/PID/task/TID/schedstat (nanoseconds on CPU), which resolves the small
   * amounts of the heartbeat phase far better than /proc/PID/stat's 10 ms ticks.
   */
  cpuMicros(): number {
    return processCpuMicros(this.pid);
  }

  rssBytes(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  }

  fdLimit(): FdLimit {
    return readFdLimit(`/proc/${this.pid}/limits`);
  }

  /** RSS from /proc, and for Node servers the JS heap after two forced full GCs. */
  async probeMemory(): Promise<MemoryProbe> {
    let heapUsedBytes: number | null = null;
    if (this.heapSocket !== null) {
      const usage = await new Promise<string>((resolve) => {
        const s = connect(this.heapSocket!);
        let text = '';
        s.setEncoding('utf8');
        s.on('connect', () => s.write('gc'));
        s.on('data', (d: string) => (text += d));
        s.on('end', () => resolve(text));
        // At its open-file limit the server cannot accept the probe: no heap figure then.
        s.on('error', () => resolve(''));
      });
      heapUsedBytes = usage ? (JSON.parse(usage) as { heapUsed: number }).heapUsed : null;
    }
    return { rssBytes: this.rssBytes(), heapUsedBytes };
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Copies the fresh build (dist/, config/default.yaml) to a private directory
 * and runs longlink from there: other people's `nest build` (npm test runs one)
 * deletes and rewrites dist/ while this bench runs. node_modules is linked.
 */
export async function snapshotLonglink(): Promise<string> {
  const until = Date.now() + 60_000;
  while (!existsSync(join(ROOT, 'dist', 'main.js'))) {
    if (Date.now() > until) throw new Error('dist/main.js is missing: run `npx nest build`');
    await sleep(500); // a concurrent build is rewriting dist/
  }
  const dir = mkdtempSync(join(tmpdir(), 'longlink-bench-build-'));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  mkdirSync(join(dir, 'config'));
  copyFileSync(join(ROOT, 'config', 'default.yaml'), join(dir, 'config', 'default.yaml'));
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "commonjs" }\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (!existsSync(join(dir, 'dist', 'main.js'))) throw new Error('dist/ changed while copying it');
  longlinkRoot = dir;
  return dir;
}

export function removeSnapshot(): void {
  if (longlinkRoot !== ROOT) rmSync(longlinkRoot, { recursive: true, force: true });
  longlinkRoot = ROOT;
}

/**
 * CPU time of a process so far, in µs: the sum over its threads of
 * /proc/PID/task/TID/schedstat (nanoseconds on CPU), which resolves small amounts
 * far better than /proc/PID/stat's 10 ms ticks (used when schedstat is missing).
 */
export function processCpuMicros(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // a thread ended between the listing and the read, or no schedstat: use the ticks
  }
  return cpuMicros(pid);
}

export function readFdLimit(limitsFile: string): FdLimit {
  const line = readFileSync(limitsFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const [soft, hard] = (line ?? '').trim().split(/\s+/).slice(3, 5).map(Number);
  return { soft, hard };
}

export function mosquittoPath(): string | null {
  return MOSQUITTO_BIN.find((p) => existsSync(p)) ?? null;
}

export function mosquittoVersion(): string | null {
  const bin = mosquittoPath();
  if (bin === null) return null;
  const out = spawnSync(bin, ['-h'], { encoding: 'utf8' });
  const m = /mosquitto version (\S+)/.exec(`${out.stdout}${out.stderr}`);
  return m ? m[1] : 'unknown';
}

/** Why a system cannot run here, or null. */
export function unavailable(name: SystemName): string | null {
  if (name === 'mosquitto' && mosquittoPath() === null) {
    return 'mosquitto is not installed: `sudo apt-get install mosquitto` (Debian/Ubuntu), then rerun';
  }
  return null;
}

function spawnPinned(argv: string[], env: Record<string, string>, wantFds: number): ChildProcess {
  // Soft limit only (-S): the hard one stays, and /proc/PID/limits shows both as the machine set them.
  const script =
    'ulimit -S -n "$1" 2>/dev/null || ulimit -S -n "$(ulimit -H -n)"; shift; exec "$@"';
  const pinned = PINNED ? ['taskset', '-c', '1', ...argv] : argv;
  return spawn('sh', ['-c', script, 'sh', String(wantFds), ...pinned], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

type Tree = Record<string, unknown>;

/** Keeps the keys of `wanted` that `defaults` has (the gateway refuses unknown keys). */
function known(wanted: Tree, defaults: Tree, path: string, dropped: string[]): Tree {
  const out: Tree = {};
  for (const [key, value] of Object.entries(wanted)) {
    const there = defaults[key];
    if (there === undefined) dropped.push(`${path}${key}`);
    else if (
      value !== null &&
      typeof value === 'object' &&
      there !== null &&
      typeof there === 'object'
    )
      out[key] = known(value as Tree, there as Tree, `${path}${key}.`, dropped);
    else out[key] = value;
  }
  return out;
}

/**
 * longlink-limits: token buckets on every key kind, each counting every frame a
 * message costs (SEND, PUSH_ACK), at rates no run reaches: what the checks cost
 * when they admit, which is what they do for honest traffic.
 */
const BENCH_RATE_RULES = [
  { name: 'frames-per-user', per: 'user', ops: ['*'], ratePerSecond: 1e9, burst: 1e9 },
  { name: 'send-per-user', per: 'user', ops: ['SEND'], ratePerSecond: 1e9, burst: 1e9 },
  { name: 'frames-per-connection', per: 'connection', ops: ['*'], ratePerSecond: 1e9, burst: 1e9 },
  { name: 'frames-per-ip', per: 'ip', ops: ['*'], ratePerSecond: 1e9, burst: 1e9 },
];

/** Keys of bench/compare.config.yaml this build of longlink does not know (and so left out). */
export const droppedConfigKeys: string[] = [];

/**
 * The gateway's config for a run: bench/compare.config.yaml with the store set,
 * restricted to the keys config/default.yaml has, so the bench keeps working
 * while the gateway's settings come and go.
 */
function longlinkConfig(
  dir: string,
  store: 'memory' | 'sqlite',
  cluster?: ClusterNodeConfig,
  withRateRules = false,
): string {
  const file = join(dir, 'longlink.yaml');
  const wanted = parseYaml(
    readFileSync(join(__dirname, '..', 'compare.config.yaml'), 'utf8'),
  ) as Tree;
  const messaging = wanted.messaging as Tree;
  messaging.store = cluster ? 'postgres' : store;
  if (cluster) {
    messaging.postgres = { url: cluster.postgresUrl, poolSize: cluster.poolSize };
    wanted.cluster = {
      nodeId: cluster.nodeId,
      redis: { url: cluster.redisUrl, keyPrefix: cluster.keyPrefix },
    };
  }
  const defaults = parseYaml(
    readFileSync(join(longlinkRoot, 'config', 'default.yaml'), 'utf8'),
  ) as Tree;
  const dropped: string[] = [];
  const config = known(wanted, defaults, '', dropped);
  // Added after the filter: it keeps only keys the defaults have, and the default list is empty.
  if (withRateRules) {
    if (!('limits' in defaults)) throw new Error('this longlink build has no rate rules (limits)');
    config.limits = { rules: BENCH_RATE_RULES };
  }
  writeFileSync(file, stringifyYaml(config));
  const missing = dropped.filter((k) => /^(cluster|messaging\.postgres)\./.test(k));
  if (cluster && missing.length)
    throw new Error(`this longlink build has no cluster mode (unknown: ${missing.join(', ')})`);
  for (const key of dropped) if (!droppedConfigKeys.includes(key)) droppedConfigKeys.push(key);
  return file;
}

function mosquittoConfig(dir: string, port: number): string {
  const file = join(dir, 'mosquitto.conf');
  writeFileSync(
    file,
    [
      '# written by bench/compare.bench.ts',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      '# the same window of unacknowledged deliveries as longlink (messaging.pushWindow)',
      'max_inflight_messages 1024',
      'max_queued_messages 100000',
      'max_connections -1',
      'sys_interval 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  return file;
}

export async function startServer(system: SystemInfo, opts: StartOptions): Promise<ServerHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `bench-${system.name}-`));
  const heapSocket = opts.heapProbe && system.node ? join(dir, 'heap.sock') : null;
  const nodeFlags = [
    ...opts.nodeFlags,
    ...(heapSocket ? ['--expose-gc', '--import', HEAP_PROBE] : []),
  ];
  const env: Record<string, string> = heapSocket ? { BENCH_HEAP_SOCKET: heapSocket } : {};
  const node = process.execPath;
  let argv: string[];
  switch (system.name) {
    case 'longlink':
    case 'longlink-sqlite':
    case 'longlink-ws':
    case 'longlink-limits':
      argv = [node, ...nodeFlags, join(longlinkRoot, 'dist/main.js')];
      Object.assign(env, {
        // Over WebSocket the generator dials the HTTP port (/ws): that is the port measured.
        LONGLINK_PORT: system.name === 'longlink-ws' ? String(await freePort()) : String(port),
        LONGLINK_HTTP_PORT: system.name === 'longlink-ws' ? String(port) : '0',
        LONGLINK_CONFIG: longlinkConfig(
          dir,
          system.name === 'longlink-sqlite' ? 'sqlite' : 'memory',
          opts.cluster,
          system.name === 'longlink-limits',
        ),
        LONGLINK_DATA_DIR: dir,
        LONGLINK_HEARTBEAT_INTERVAL_MS: String(opts.heartbeatMs),
        // The environment would override the file: set (or clear) what makes a node.
        LONGLINK_REDIS_URL: opts.cluster?.redisUrl ?? '',
        LONGLINK_POSTGRES_URL: opts.cluster?.postgresUrl ?? '',
        LONGLINK_NODE_ID: opts.cluster?.nodeId ?? '',
      });
      break;
    case 'relay':
    case 'aedes':
    case 'socketio': {
      const script = join(__dirname, '..', 'peers', `${system.name}.server.ts`);
      argv = [node, '--import', 'tsx', ...nodeFlags, script];
      Object.assign(env, {
        PORT: String(port),
        HEARTBEAT_INTERVAL_MS: String(opts.heartbeatMs),
        PING_INTERVAL_MS: String(opts.heartbeatMs),
      });
      break;
    }
    case 'mosquitto':
      argv = [mosquittoPath()!, '-c', mosquittoConfig(dir, port)];
      break;
  }
  const child = spawnPinned(argv, env, opts.wantFds);
  const handle = new ServerHandle(system, port, child, dir, heapSocket);
  const early = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`${system.name} exited with ${code}: ${handle.stderr().join(' | ')}`)),
    ),
  );
  try {
    await Promise.race([waitForPort(port, 30000), early]);
    if (heapSocket) {
      const until = Date.now() + 10000;
      while (!existsSync(heapSocket) && Date.now() < until) await sleep(50);
    }
  } catch (err) {
    await handle.stop();
    throw err;
  }
  early.catch(() => undefined);
  return handle;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
