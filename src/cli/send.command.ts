import { Command } from 'commander';
import { paceBudget } from '../client/frame-pacer.js';
import type { LonglinkClient } from '../client/longlink.client.js';
import { CliError, describeError } from './cli.error.js';
import {
  type ConnectionOptions,
  addConnectionOptions,
  createClient,
} from './connection.options.js';
import { positiveInteger, positiveNumber } from './option.parsers.js';

interface SendOptions extends ConnectionOptions {
  to: string;
  text: string;
  count: number;
  rate: number;
  timeout: number;
}

/** The pace of --count without --rate: half the server's default soft limit (200 frames/s). */
const DEFAULT_RATE = 100;

/**
 * `longlink send --to bob --text hi [--count N --rate R]`: prints each msgId once acknowledged.
 * A rate over what the server announced at LOGIN is lowered to the SDK's pace (said once).
 */
export function sendCommand(): Command {
  const command = new Command('send')
    .description('send a message; prints its msgId once the server has stored it')
    .requiredOption('--to <uid>', 'recipient')
    .requiredOption('--text <text>', 'message text (sent as content {"text": …})')
    .option('--count <n>', 'send N messages (text suffixed " #1", " #2", …)', positiveInteger, 1)
    .option('--rate <r>', 'messages per second with --count', positiveNumber, DEFAULT_RATE)
    .option('--timeout <s>', 'seconds to wait for each acknowledgement', positiveNumber, 10);
  // Unlike chat, send does not reconnect: a script wants its exit code, not a wait.
  return addConnectionOptions(command).action(async (options: SendOptions) => {
    const { client, connect } = createClient(options, {
      reconnect: false,
      requestTimeoutMs: options.timeout * 1000,
    });
    client.on('error', (error) => process.stderr.write(`warning: ${describeError(error)}\n`));
    await connect();
    try {
      await sendAll(client, options);
    } finally {
      await client.close();
    }
  });
}

/**
 * --rate, or the pace the SDK keeps to when that is lower (PACING_SHARE of the announced limit),
 * so messages wait here rather than in the SDK, where their acknowledgement timeout would run.
 */
function effectiveRate(client: LonglinkClient, options: SendOptions): number {
  const limits = client.session?.limits;
  const budget = paceBudget(limits);
  if (limits === undefined || budget === undefined || options.count === 1) return options.rate;
  const pace = (budget.frames * 1000) / budget.intervalMs;
  if (options.rate <= pace) return options.rate;
  process.stderr.write(
    `* pacing to ${Math.floor(pace)} msgs/s: the server allows ${limits.maxPackets} frames per ${limits.intervalMs} ms\n`,
  );
  return pace;
}

async function sendAll(client: LonglinkClient, options: SendOptions): Promise<void> {
  const { to, text, count } = options;
  const rate = effectiveRate(client, options);
  const timeoutMs = options.timeout * 1000;
  const started = Date.now();
  const sends: Promise<void>[] = [];
  const failures: unknown[] = [];
  // Open loop: each message leaves on schedule, without waiting for the previous ack.
  for (let i = 1; i <= count && client.state !== 'closed'; i++) {
    const wait = started + ((i - 1) * 1000) / rate - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const content = { text: count === 1 ? text : `${text} #${i}` };
    sends.push(
      client.send(to, content, { timeoutMs }).then(
        (msgId) => void process.stdout.write(`${msgId}\n`),
        (error: unknown) => void failures.push(error),
      ),
    );
  }
  await Promise.all(sends);
  const sent = sends.length - failures.length;
  if (count > 1) {
    const seconds = Math.max(Date.now() - started, 1) / 1000;
    process.stderr.write(
      `sent ${sent} of ${count} messages in ${seconds.toFixed(2)} s (${(sent / seconds).toFixed(1)}/s)\n`,
    );
  }
  if (failures.length > 0 || sent < count) {
    const first = failures[0] ?? 'the connection closed';
    const tail = count > 1 ? `; ${count - sent} of ${count} messages not acknowledged` : '';
    throw new CliError(`${describeError(first)}${tail}`);
  }
}
