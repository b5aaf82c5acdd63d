import { Command, Option } from 'commander';
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join, relative } from 'node:path';
import { ConfigError } from '../config/config.error.js';
import { loadConfig } from '../config/config.loader.js';
import { CliError } from './cli.error.js';
import { ClusterSupervisor, STOP_REQUEST, type SupervisedWorker } from './cluster.supervisor.js';
import { positiveInteger } from './option.parsers.js';

const ROOT = join(__dirname, '..', '..');
/** What every worker ends up running: the built gateway. */
const MAIN = join(ROOT, 'dist', 'main.js');
/** Next to this file: .js when built, .ts from the sources (the workers inherit tsx then). */
const WORKER_ENTRY = join(__dirname, `cluster.worker${extname(__filename)}`);
/** The gateway's exit code for a configuration error (EX_CONFIG), which the primary shares. */
const EX_CONFIG = 78;

interface ClusterOptions {
  workers: number;
}

type LoadedConfig = ReturnType<typeof loadConfig>;

/**
 * `longlink cluster [--workers N]`: N gateway processes on this machine sharing one port through
 * node:cluster, each its own node (its own node id, sessions and timers), supervised: a worker
 * that dies is started again; SIGTERM/SIGINT drains them all.
 */
export function clusterCommand(): Command {
  return new Command('cluster')
    .description('run N gateway nodes on this machine, sharing one port')
    .addOption(
      new Option('--workers <n>', 'gateway processes to start')
        .argParser(positiveInteger)
        .default(availableParallelism(), 'the number of CPUs'),
    )
    .addHelpText(
      'after',
      [
        '',
        'Each worker reads config/default.yaml, LONGLINK_CONFIG and LONGLINK_* as the gateway does.',
        'For one gateway of N nodes, give them Redis (cluster.redis.url, LONGLINK_REDIS_URL) and a',
        'shared store (sqlite on this machine, postgres across machines), not the memory store.',
        'A worker that exits is restarted (at most 5 times a minute); SIGTERM or Ctrl-C drains all.',
      ].join('\n'),
    )
    .action((options: ClusterOptions) => runCluster(options));
}

async function runCluster({ workers }: ClusterOptions): Promise<void> {
  let config: LoadedConfig;
  try {
    config = loadConfig();
    checkConfig(config, workers);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const line of error.message.split('\n')) process.stderr.write(`longlink: ${line}\n`);
    process.exitCode = EX_CONFIG;
    return;
  }
  if (!existsSync(MAIN)) {
    throw new CliError(`${relative(process.cwd(), MAIN)} not found: build first (npm run build)`);
  }
  const log = (line: string) => process.stderr.write(`longlink cluster: ${line}\n`);
  const { host, port, drainTimeoutMs } = config.server;
  log(
    `starting ${workers} worker${workers === 1 ? '' : 's'} on ${host}:${port} (store: ${config.messaging.store})`,
  );
  if (workers > 1 && redisUrl(config) === undefined) {
    log(
      'warning: no Redis (cluster.redis.url, LONGLINK_REDIS_URL): the workers do not share ' +
        "sessions and do not deliver to each other's users; set it for a real cluster",
    );
  }

  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [] });
  const supervisor = new ClusterSupervisor({
    workers,
    fork: () => forkWorker(log),
    log,
    stopTimeoutMs: drainTimeoutMs + 5000,
  });
  const onSignal = (signal: NodeJS.Signals) => supervisor.stop(signal);
  const onHangUp = () => supervisor.hangUp();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangUp);
  try {
    supervisor.start();
    const code = await supervisor.done;
    if (code === 0) log('all workers stopped');
    process.exitCode = code;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangUp);
  }
}

/** What one process may use and N may not share. */
function checkConfig(config: LoadedConfig, workers: number): void {
  if (workers === 1) return;
  if (config.messaging.store === 'memory') {
    throw new ConfigError(
      'messaging.store',
      `memory cannot be shared by ${workers} workers (each would keep its own messages); ` +
        'use sqlite or postgres, or --workers 1',
    );
  }
  // Read defensively: the cluster section may be absent from the configuration.
  const nodeId = (config as { cluster?: { nodeId?: string | null } }).cluster?.nodeId;
  if (typeof nodeId === 'string' && nodeId !== '') {
    throw new ConfigError(
      'cluster.nodeId',
      `is set (${JSON.stringify(nodeId)}), so all ${workers} workers would claim the same node ` +
        'id; leave it null (and LONGLINK_NODE_ID unset) to give each worker its own',
    );
  }
}

function redisUrl(config: LoadedConfig): string | undefined {
  const fromEnv = process.env.LONGLINK_REDIS_URL;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const url = (config as { cluster?: { redis?: { url?: string | null } } }).cluster?.redis?.url;
  return typeof url === 'string' && url !== '' ? url : undefined;
}

/** A node:cluster worker, seen through the supervisor's interface. */
function forkWorker(log: (line: string) => void): SupervisedWorker {
  const worker = cluster.fork();
  const signal = (name: NodeJS.Signals) => {
    if (worker.process.exitCode === null && worker.process.signalCode === null) {
      worker.process.kill(name);
    }
  };
  worker.on('error', (error: Error) => log(`worker (pid ${worker.process.pid}): ${error.message}`));
  return {
    get pid() {
      return worker.process.pid;
    },
    onListening: (listener) => worker.on('listening', () => listener()),
    onExit: (listener) =>
      worker.on('exit', (code: number | null, signalName: string | null) =>
        listener(code, signalName),
      ),
    stop: () => {
      if (!worker.isConnected()) return signal('SIGTERM');
      worker.send(STOP_REQUEST, (error: Error | null) => {
        if (error) signal('SIGTERM');
      });
    },
    hangUp: () => signal('SIGHUP'),
    kill: () => signal('SIGKILL'),
  };
}
