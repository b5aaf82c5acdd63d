/** What the primary sends a worker to have it drain and exit (see cluster.worker.ts). */
export const STOP_REQUEST = { longlink: 'stop' } as const;

export function isStopRequest(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { longlink?: unknown }).longlink === STOP_REQUEST.longlink
  );
}

/** One worker process, as the supervisor sees it (node:cluster's Worker, adapted). */
export interface SupervisedWorker {
  readonly pid: number | undefined;
  onListening(listener: () => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Asks it to drain and exit, as SIGTERM does to a single gateway. */
  stop(): void;
  /** Reload the access lists (SIGHUP). */
  hangUp(): void;
  /** SIGKILL. */
  kill(): void;
}

export interface SupervisorOptions {
  workers: number;
  fork: () => SupervisedWorker;
  log: (line: string) => void;
  /** From the stop request until every worker must have exited: drainTimeoutMs + 5 s. */
  stopTimeoutMs: number;
  /** Restarts allowed within restartWindowMs; one more and the supervisor gives up. */
  maxRestarts?: number;
  restartWindowMs?: number;
  /** The wait before a restart, given how many restarts the window already holds. */
  restartDelayMs?: (recentRestarts: number) => number;
  now?: () => number;
}

/** A worker exit code that means "fix the configuration": restarting cannot help. */
const EX_CONFIG = 78;

interface Slot {
  readonly n: number;
  worker: SupervisedWorker | null;
  listened: boolean;
  restartTimer?: NodeJS.Timeout;
}

/**
 * Keeps N gateway workers running: the first is started alone (it creates or migrates the store
 * before the others open it), the rest once it listens. A worker that exits while the cluster is
 * not stopping is started again after a backoff, at most maxRestarts times per window; then the
 * supervisor stops the others and gives up. stop() asks every worker to drain; a second stop()
 * kills them. `done` resolves with the primary's exit code.
 */
export class ClusterSupervisor {
  readonly done: Promise<number>;
  private resolveDone: (code: number) => void = () => undefined;
  private readonly slots: Slot[];
  private readonly restarts: number[] = [];
  private stopping = false;
  private finished = false;
  private exitCode = 0;
  private stopTimer?: NodeJS.Timeout;
  private readonly maxRestarts: number;
  private readonly restartWindowMs: number;
  private readonly restartDelayMs: (recentRestarts: number) => number;
  private readonly now: () => number;

  constructor(private readonly options: SupervisorOptions) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.slots = Array.from({ length: options.workers }, (_, i) => ({
      n: i + 1,
      worker: null,
      listened: false,
    }));
    this.maxRestarts = options.maxRestarts ?? 5;
    this.restartWindowMs = options.restartWindowMs ?? 60_000;
    this.restartDelayMs =
      options.restartDelayMs ?? ((recent) => Math.min(500 * 2 ** recent, 10_000));
    this.now = options.now ?? Date.now;
  }

  start(): void {
    const [first] = this.slots;
    if (first) this.spawn(first);
  }

  /** The first call drains every worker; a second one kills them and finishes with 1. */
  stop(reason: string): void {
    if (this.finished) return;
    if (this.stopping) {
      this.options.log(`${reason} again: killing the workers`);
      for (const slot of this.slots) slot.worker?.kill();
      this.finish(1);
      return;
    }
    const running = this.slots.filter((slot) => slot.worker !== null).length;
    this.options.log(
      `${reason}: stopping ${running} worker${running === 1 ? '' : 's'} (each drains; killed if still running after ${this.options.stopTimeoutMs} ms)`,
    );
    this.beginStop(0);
  }

  /** Passes SIGHUP on (the gateways reload their access lists). */
  hangUp(): void {
    for (const slot of this.slots) slot.worker?.hangUp();
  }

  private spawn(slot: Slot): void {
    const worker = this.options.fork();
    slot.worker = worker;
    slot.listened = false;
    worker.onListening(() => {
      if (slot.worker !== worker || slot.listened) return;
      slot.listened = true;
      this.options.log(`worker ${slot.n} (pid ${worker.pid}) listening`);
      // The first worker is up: the store exists and is migrated; start the others.
      if (slot.n === 1 && !this.stopping) {
        for (const other of this.slots) {
          if (other.worker === null && other.restartTimer === undefined && other.n !== 1) {
            this.spawn(other);
          }
        }
      }
    });
    worker.onExit((code, signal) => this.exited(slot, worker, code, signal));
  }

  private exited(
    slot: Slot,
    worker: SupervisedWorker,
    code: number | null,
    signal: string | null,
  ): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    const how = signal === null ? `code ${code}` : `signal ${signal}`;
    const who = `worker ${slot.n} (pid ${worker.pid})`;
    if (this.stopping) {
      if (code !== 0) {
        this.options.log(`${who} exited with ${how}`);
        this.exitCode = Math.max(this.exitCode, 1);
      }
      if (this.slots.every((s) => s.worker === null)) this.finish(this.exitCode);
      return;
    }
    if (code === EX_CONFIG && !slot.listened) {
      this.options.log(`${who} exited with ${how} (configuration) before listening; giving up`);
      this.beginStop(EX_CONFIG);
      return;
    }
    const now = this.now();
    while (this.restarts.length > 0 && this.restarts[0]! <= now - this.restartWindowMs) {
      this.restarts.shift();
    }
    if (this.restarts.length >= this.maxRestarts) {
      this.options.log(
        `${who} exited with ${how}; ${this.restarts.length} restarts in the last ${this.restartWindowMs / 1000} s already: giving up`,
      );
      this.beginStop(1);
      return;
    }
    const delay = this.restartDelayMs(this.restarts.length);
    this.restarts.push(now);
    this.options.log(`${who} exited unexpectedly with ${how}; restarting it in ${delay} ms`);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.spawn(slot);
    }, delay);
  }

  private beginStop(code: number): void {
    this.stopping = true;
    this.exitCode = code;
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      slot.worker?.stop();
    }
    if (this.slots.every((slot) => slot.worker === null)) {
      this.finish(this.exitCode);
      return;
    }
    this.stopTimer = setTimeout(() => {
      const left = this.slots.filter((slot) => slot.worker !== null);
      this.options.log(
        `${left.length} worker${left.length === 1 ? '' : 's'} still running after ${this.options.stopTimeoutMs} ms: killing`,
      );
      for (const slot of left) slot.worker?.kill();
      this.finish(1);
    }, this.options.stopTimeoutMs);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.stopTimer);
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    this.resolveDone(code);
  }
}
