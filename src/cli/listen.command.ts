import { Command } from 'commander';
import type { InboxMessage } from '../client/server-bodies.js';
import { CliError } from './cli.error.js';
import {
  type ConnectionOptions,
  addConnectionOptions,
  createClient,
} from './connection.options.js';
import { formatMessage, formatMessageJson } from './message.format.js';
import { positiveInteger, positiveNumber } from './option.parsers.js';
import { watchConnection } from './status.reporter.js';

interface ListenOptions extends ConnectionOptions {
  count?: number;
  timeout?: number;
  json?: boolean;
}

/**
 * `longlink listen [--count N] [--timeout S] [--json]`: prints and acknowledges messages as they
 * arrive. Exits 0 after N messages (or at the timeout when no --count is given), 1 when the
 * timeout comes first. Messages are printed on stdout, connection states on stderr.
 */
export function listenCommand(): Command {
  const command = new Command('listen')
    .description('print (and acknowledge) incoming messages')
    .option('--count <n>', 'exit 0 after N messages', positiveInteger)
    .option(
      '--timeout <s>',
      'give up after S seconds (exit 1 if --count was not reached)',
      positiveNumber,
    )
    .option('--json', 'one JSON object per line: msgId, seq, from, content, ts');
  return addConnectionOptions(command).action((options: ListenOptions) => listen(options));
}

async function listen(options: ListenOptions): Promise<void> {
  const { count, timeout, json = false } = options;
  // Manual acks: a message is acknowledged right after it is printed, and close() sends that
  // ack before exiting; extra messages past --count stay on the server for the next reader.
  const { client, address, connect } = createClient(options, { autoAck: false });
  let received = 0;
  let finish: (error?: CliError) => void = () => undefined;
  const done = new Promise<CliError | undefined>((resolve) => (finish = resolve));

  client.on('message', (message: InboxMessage) => {
    if (count !== undefined && received >= count) return;
    process.stdout.write(`${json ? formatMessageJson(message) : formatMessage(message)}\n`);
    client.ack(message.seq);
    received++;
    if (received === count) finish();
  });
  watchConnection(client, (line) => process.stderr.write(`${line}\n`), finish);
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(() => {
          if (count === undefined) finish();
          else finish(new CliError(`timeout: ${received} of ${count} messages in ${timeout} s`));
        }, timeout * 1000);
  const interrupted = () =>
    finish(
      count === undefined
        ? undefined
        : new CliError(`interrupted after ${received} of ${count} messages`),
    );
  process.once('SIGINT', interrupted);
  try {
    const session = await connect();
    process.stderr.write(`listening as ${session.uid} on ${address}\n`);
    const error = await done;
    if (error) throw error;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', interrupted);
    await client.close();
  }
}
