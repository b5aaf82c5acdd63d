/**
 * Machine-wide CPU use per core from /proc/stat, to see what else ran during a
 * measurement: other tests on a shared machine take CPU from the server's or the
 * generator's core and lower the figures. Every window reports how busy each
 * core was in all; minus the server's own CPU, that is the noise.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { sleep } from './context';

export interface CpuSample {
  busy: number[];
  total: number[];
}

export function sampleCpus(): CpuSample {
  const busy: number[] = [];
  const total: number[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal
    const idle = f[3] + f[4];
    const all = f.slice(0, 8).reduce((s, x) => s + x, 0);
    busy[Number(m[1])] = all - idle;
    total[Number(m[1])] = all;
  }
  return { busy, total };
}

/** Busy share (0..1) of each core between two samples. */
export function busyShare(a: CpuSample, b: CpuSample): number[] {
  return b.busy.map((x, i) => {
    const t = b.total[i] - a.total[i];
    return t > 0 ? (x - a.busy[i]) / t : NaN;
  });
}

/**
 * Waits, at most `maxMs`, until every core is less than `threshold` busy over
 * half a second (nothing of ours runs meanwhile); returns the last busy shares.
 */
export async function waitForQuiet(maxMs: number, threshold = 0.15): Promise<number[]> {
  const until = Date.now() + maxMs;
  for (;;) {
    const a = sampleCpus();
    await sleep(500);
    const share = busyShare(a, sampleCpus());
    if (share.every((s) => s < threshold) || Date.now() >= until) return share;
  }
}

export const CORES = cpus().length;
