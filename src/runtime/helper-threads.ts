import { readdirSync } from 'node:fs';
import { availableParallelism, setPriority } from 'node:os';

/** `server.helperThreadPriority`: when to lower V8's and Node's helper threads. */
export type HelperThreadPriority = 'auto' | 'low' | 'normal';

/** The nice value given to helper threads: they run only when the event loop leaves the CPU idle. */
export const HELPER_THREAD_NICE = 19;

/** `auto` lowers them when the process may run on one CPU only (taskset, cpuset). */
export function shouldLowerHelperThreads(
  mode: HelperThreadPriority,
  cpus: number = availableParallelism(),
): boolean {
  return mode === 'low' || (mode === 'auto' && cpus === 1);
}

/**
 * Gives every thread of this process but the main one (the event loop) nice 19;
 * returns how many it changed. Why: on a single CPU, V8's concurrent-marking
 * thread took it from the event loop in scheduler slices of ~17 ms, several in a
 * row per major GC (bench/README.md); at nice 19 it runs when the loop is idle,
 * and V8 finishes marking on the main thread in small steps when it is not.
 * Linux only (/proc/self/task); elsewhere it changes nothing. Threads started
 * later (libuv's pool) keep their priority.
 */
export function lowerHelperThreads(nice = HELPER_THREAD_NICE): number {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  let changed = 0;
  for (const entry of tids) {
    const tid = Number(entry);
    if (tid === process.pid) continue;
    try {
      setPriority(tid, nice);
      changed++;
    } catch {
      // The thread ended meanwhile, or the OS refused: not worth failing startup over.
    }
  }
  return changed;
}
