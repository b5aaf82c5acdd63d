/**
 * The orchestrator's handle on its generator processes: forks them (node
 * --import tsx generator.worker.ts), pins them to CPU 0 next to the
 * orchestrator, and sends them commands over IPC.
 */
import { ChildProcess, fork, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PINNED } from '../support/process';
import { WorkerCommand, WorkerStats } from './generator.worker';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

class Worker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  readonly stderr: string[] = [];

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`generator ${child.pid}: ${m.error}`));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (t: string) => {
      this.stderr.push(t);
      if (this.stderr.length > 20) this.stderr.shift();
    });
    child.on('error', () => undefined); // a send after the worker died; reported by call()
    child.on('exit', (code) => {
      for (const p of this.pending.values()) {
        p.reject(new Error(`generator ${child.pid} exited (${code}): ${this.stderr.join('')}`));
      }
      this.pending.clear();
    });
  }

  call<T>(command: WorkerCommand): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!this.child.connected) {
        reject(new Error(`generator ${this.child.pid} is gone: ${this.stderr.join('').trim()}`));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, command });
    });
  }
}

export class GeneratorPool {
  private readonly workers: Worker[] = [];

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid!);
  }

  /** Makes sure at least `count` generator processes are running. */
  ensure(count: number): void {
    while (this.workers.length < count) {
      const child = fork(join(__dirname, 'generator.worker.ts'), [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      if (PINNED) spawnSync('taskset', ['-cp', '0', String(child.pid)], { stdio: 'ignore' });
      this.workers.push(new Worker(child));
    }
  }

  call<T>(index: number, command: WorkerCommand): Promise<T> {
    return this.workers[index].call<T>(command);
  }

  /** Sends a command to the first `count` workers (all by default). */
  all<T>(command: WorkerCommand | ((i: number) => WorkerCommand), count = this.size): Promise<T[]> {
    return Promise.all(
      this.workers
        .slice(0, count)
        .map((w, i) => w.call<T>(typeof command === 'function' ? command(i) : command)),
    );
  }

  stats(count = this.size, histogram = false): Promise<WorkerStats[]> {
    return this.all<WorkerStats>({ cmd: 'stats', histogram }, count);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.child.exitCode !== null) return resolve();
            w.child.once('exit', () => resolve());
            w.child.disconnect();
            setTimeout(() => w.child.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
    this.workers.length = 0;
  }
}

/** Sums the counters of several workers' stats. */
export function sumStats(list: WorkerStats[]): WorkerStats {
  const total: WorkerStats = {
    sent: 0,
    sendAcks: 0,
    delivered: 0,
    completed: 0,
    outstanding: 0,
    dups: 0,
    errors: 0,
    kicks: 0,
    dropped: 0,
    suppressed: 0,
    heartbeatsSent: 0,
    heartbeatReplies: 0,
    errorSamples: [],
    cpuUs: 0,
    rssBytes: 0,
    idle: 0,
  };
  for (const s of list) {
    for (const key of Object.keys(total) as (keyof WorkerStats)[]) {
      if (typeof total[key] === 'number') (total[key] as number) += s[key] as number;
    }
    total.errorSamples.push(...s.errorSamples);
  }
  return total;
}
