import type { LonglinkClient } from '../client/longlink.client.js';
import { CliError, describeError } from './cli.error.js';

/**
 * Reports connection states as one-line notes (`kicked: relogin …`, `reconnecting in 1.2 s`),
 * and calls `onEnd` with an error when the client stops for a reason other than close().
 */
export function watchConnection(
  client: LonglinkClient,
  note: (line: string) => void,
  onEnd: (error: CliError) => void,
): void {
  client.on('kick', ({ code, message, willReconnect }) =>
    note(
      `kicked: ${code}${message ? ` (${message})` : ''}${willReconnect ? '' : '; not reconnecting'}`,
    ),
  );
  client.on('reconnect-advised', ({ reason, afterMs, willReconnect }) =>
    note(
      `server going away (${reason})${willReconnect ? `; reconnecting at least ${seconds(afterMs)} s after it closes` : ''}`,
    ),
  );
  client.on('disconnect', ({ reason, willReconnect }) =>
    note(`disconnected: ${reason}${willReconnect ? '; reconnecting' : ''}`),
  );
  client.on('reconnecting', ({ attempt, delayMs, error }) =>
    note(
      `reconnecting in ${seconds(delayMs)} s (attempt ${attempt}${error ? `, last: ${describeError(error)}` : ''})`,
    ),
  );
  client.on('reconnect', ({ session }) => note(`reconnected as ${session.uid}`));
  client.on('error', (error) => note(`warning: ${describeError(error)}`));
  client.on('close', ({ reason, message }) => {
    if (reason === 'closed') return;
    onEnd(new CliError(`${reason}${message ? ` (${message})` : ''}`));
  });
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
