import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { PINNED } from '../support/process';
import { AttackResult, FromAttacker, InitMessage, PhaseName, ToAttacker } from './phases';

const ATTACKER = join(__dirname, 'attacker.ts');

/**
 * The attacker as a child process: CPU 0 (the gateway has CPU 1 to itself), under
 * SCHED_IDLE or a nice level (so that, sharing CPU 0 with the measuring process, it
 * does not delay the bystanders' own timestamps), spoken to over IPC. taskset, nice and chrt exec, so
 * the pid held here is the attacker's own and /proc accounting is exact.
 */
export class AttackerProcess {
  private waiting: ((message: FromAttacker) => void) | undefined;
  private exitError: Error | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: FromAttacker) => {
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.(message);
    });
    child.once('exit', (code, signal) => {
      this.exitError = new Error(`the attacker process exited (${signal ?? code})`);
      const waiter = this.waiting;
      this.waiting = undefined;
      waiter?.({ type: 'error', message: this.exitError.message });
    });
  }

  /** `nice`: a nice level, or 'idle' for SCHED_IDLE (it runs only when CPU 0 has nothing else to run). */
  static async start(init: InitMessage, nice: number | 'idle'): Promise<AttackerProcess> {
    const node = [process.execPath, '--import', 'tsx', ATTACKER];
    const niced =
      nice === 'idle' ? ['chrt', '--idle', '0', ...node] : ['nice', '-n', String(nice), ...node];
    const argv = PINNED ? ['taskset', '-c', '0', ...niced] : niced;
    const child = spawn(argv[0], argv.slice(1), {
      cwd: join(__dirname, '..', '..'),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const attacker = new AttackerProcess(child);
    await attacker.ask(init, 'ready');
    return attacker;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async run(phase: PhaseName, seconds: number, attempt: number): Promise<AttackResult> {
    const answer = await this.ask({ type: 'run', phase, seconds, attempt }, 'result');
    return (answer as Extract<FromAttacker, { type: 'result' }>).result;
  }

  /** Checks of offenders left running across phases. */
  async finish(): Promise<AttackResult[]> {
    const answer = await this.ask({ type: 'finish' }, 'finished');
    return (answer as Extract<FromAttacker, { type: 'finished' }>).results;
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private ask(message: ToAttacker, expected: FromAttacker['type']): Promise<FromAttacker> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise((resolve, reject) => {
      this.waiting = (answer) => {
        if (answer.type === expected) resolve(answer);
        else if (answer.type === 'error') reject(new Error(`attacker: ${answer.message}`));
        else reject(new Error(`attacker answered ${answer.type}, expected ${expected}`));
      };
      this.child.send(message);
    });
  }
}
