import { ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { sleep } from './wait';

export const ROOT = join(__dirname, '..', '..');
export const MAIN = join(ROOT, 'dist', 'main.js');

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** `node dist/main.js` on a fixed port and data directory, restartable. */
export class ChildGateway {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  starts = 0;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly configFile: string,
    /** More LONGLINK_* variables (the rest of the caller's are dropped). */
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  get running(): boolean {
    return this.child !== null;
  }

  /** Last lines the process printed (for failure messages). */
  get log(): string {
    return this.output.split('\n').slice(-20).join('\n');
  }

  async start(timeoutMs = 15000): Promise<void> {
    if (this.child) throw new Error('already running');
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('LONGLINK_')) env[key] = value;
    }
    Object.assign(env, {
      LONGLINK_PORT: String(this.port),
      LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
      LONGLINK_DATA_DIR: this.dataDir,
      LONGLINK_LOG_LEVEL: 'warn',
      LONGLINK_CONFIG: this.configFile,
      ...this.extraEnv,
    });
    const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: 'pipe' });
    this.child = child;
    this.starts++;
    const append = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20000);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        if (this.child === child) this.child = null;
        resolve();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child !== child) throw new Error(`gateway exited during startup:\n${this.log}`);
      if (await canConnect(this.port)) return;
      await sleep(25);
    }
    throw new Error(`gateway did not listen on ${this.port} within ${timeoutMs} ms:\n${this.log}`);
  }

  /** SIGKILL, synchronously: nothing after this line runs in the gateway. */
  killNow(): void {
    this.child?.kill('SIGKILL');
  }

  async kill(): Promise<void> {
    this.killNow();
    await this.exited;
  }
}
