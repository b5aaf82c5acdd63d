import { join } from 'node:path';
import { isStopRequest } from './cluster.supervisor.js';

/**
 * Entry of each `longlink cluster` worker: the gateway's own bootstrap, dist/main.js, which loads
 * its configuration (YAML and LONGLINK_* variables) exactly as `node dist/main.js` does, and
 * drains on SIGTERM/SIGINT. One thing is added: the primary's stop request. Ctrl-C in a terminal
 * (or systemd stopping the unit) signals every process of the group, the workers included, and a
 * second signal would force a draining worker out at once; so the request raises SIGTERM here
 * only when no signal came first.
 */
const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

/** The primary's request follows a group-wide signal closely: give the signal time to arrive. */
const SIGNAL_GRACE_MS = 100;

let signalled = false;
function onSignal(signal: NodeJS.Signals): void {
  signalled = true;
  // Still starting, the gateway has no handler of its own yet: do what Node does by default.
  if (process.listenerCount(signal) === 1) {
    process.off(signal, onSignal);
    process.kill(process.pid, signal);
  }
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

process.on('message', (message: unknown) => {
  if (!isStopRequest(message)) return;
  setTimeout(() => {
    if (signalled) return;
    // Stopped before it serves: nothing to drain.
    if (process.listenerCount('SIGTERM') === 1) process.exit(0);
    process.kill(process.pid, 'SIGTERM');
  }, SIGNAL_GRACE_MS);
});

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the built gateway, loaded as `node dist/main.js` would
require(MAIN);
