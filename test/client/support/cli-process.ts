import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** The environment without LONGLINK_* settings, so --as mints with the default secret. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('LONGLINK_')) env[key] = value;
  }
  return env;
}

/** A running `longlink` (from source through tsx, as `npm run cli` runs it). */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(args: string[], entry: 'src' | 'bin' = 'src') {
    const command = entry === 'src' ? ['--import', 'tsx', 'src/cli/main.ts'] : ['bin/longlink.js'];
    this.child = spawn(process.execPath, [...command, ...args], { cwd: ROOT, env: cleanEnv() });
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  write(text: string): void {
    this.child.stdin.write(text);
  }

  endInput(): void {
    this.child.stdin.end();
  }

  interrupt(): void {
    this.child.kill('SIGINT');
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Resolves when `stream` has matched `pattern`; rejects with what was seen after timeoutMs. */
  async waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = 8000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this[stream])) {
      if (Date.now() > deadline) {
        throw new Error(
          `${stream} did not match ${pattern} within ${timeoutMs} ms:\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Exit code, or a rejection (and a kill) after timeoutMs. */
  async exitCode(timeoutMs = 8000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(
          new Error(
            `still running after ${timeoutMs} ms:\nstdout: ${this.stdout}\nstderr: ${this.stderr}`,
          ),
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs `longlink args…` to completion. */
export async function runCli(args: string[], entry: 'src' | 'bin' = 'src') {
  const cli = new CliProcess(args, entry);
  cli.endInput();
  const code = await cli.exitCode();
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}
