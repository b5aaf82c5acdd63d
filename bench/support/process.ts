import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus } from 'node:os';

/** With two or more cores the server runs on CPU 1 and the generator on CPU 0. */
export const PINNED = cpus().length >= 2;

/** Pins this (generator) process to CPU 0. */
export function pinGenerator(): void {
  if (PINNED) spawn('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
}

/** Starts a server process with node, pinned to CPU 1 when possible. */
export function launchServer(nodeArgs: string[], env: Record<string, string>): ChildProcess {
  const cmd = PINNED ? 'taskset' : process.execPath;
  const argv = PINNED ? ['-c', '1', process.execPath, ...nodeArgs] : nodeArgs;
  return spawn(cmd, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
}

export async function waitForPort(port: number, timeoutMs = 20000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** utime+stime of a process from /proc, in microseconds. */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
}

export const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function machine(): string {
  return `${cpus()[0].model}, ${cpus().length} cores, node ${process.version}`;
}

export { freePort } from '../../test/support/free-port';
