import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HELPER_THREAD_NICE, shouldLowerHelperThreads } from './helper-threads.js';

describe('shouldLowerHelperThreads', () => {
  it('auto lowers them only on a single CPU; low and normal are what they say', () => {
    expect(shouldLowerHelperThreads('auto', 1)).toBe(true);
    expect(shouldLowerHelperThreads('auto', 2)).toBe(false);
    expect(shouldLowerHelperThreads('low', 8)).toBe(true);
    expect(shouldLowerHelperThreads('normal', 1)).toBe(false);
  });
});

// In a child process: renicing the test runner's own threads would outlive the test.
const compiled = join(__dirname, '..', '..', 'dist', 'runtime', 'helper-threads.js');
const onLinux = existsSync('/proc/self/task');

(onLinux ? describe : describe.skip)('lowerHelperThreads', () => {
  it('gives every thread but the main one nice 19, and leaves the main one alone', () => {
    const script = `
      const fs = require('node:fs');
      const n = require(${JSON.stringify(compiled)}).lowerHelperThreads();
      const nice = (t) => Number(fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
      const threads = fs.readdirSync('/proc/self/task').map((t) => ({ main: Number(t) === process.pid, nice: nice(t) }));
      process.stdout.write(JSON.stringify({ n, threads }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    const helpers = out.threads.filter((t: { main: boolean }) => !t.main);
    expect(out.n).toBe(helpers.length);
    expect(helpers.length).toBeGreaterThan(0);
    for (const t of helpers) expect(t.nice).toBe(HELPER_THREAD_NICE);
    expect(out.threads.find((t: { main: boolean }) => t.main).nice).toBe(0);
  });
});
