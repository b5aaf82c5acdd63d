import { Command } from 'commander';
import { randomClientMsgId } from '../client/random-id.js';
import { CliError } from './cli.error.js';
import { ChatPendingView } from './chat-pending.view.js';
import { ChatScreen } from './chat.screen.js';
import {
  type ConnectionOptions,
  addConnectionOptions,
  createClient,
} from './connection.options.js';
import { contentText } from './message.format.js';
import { watchConnection } from './status.reporter.js';

interface ChatOptions extends ConnectionOptions {
  to: string;
}

/**
 * `longlink chat --to bob`: each line typed is sent to bob; incoming messages (from anyone) are
 * shown as they arrive, with connection states. A line typed while disconnected waits in the
 * client's outbox (`… queued`) and goes out on reconnect (`✓ sent`). Ctrl-C or end of input
 * leaves cleanly, once the lines already typed are acknowledged (a second Ctrl-C leaves at once).
 */
export function chatCommand(): Command {
  const command = new Command('chat')
    .description('interactive chat with one user')
    .requiredOption('--to <uid>', 'who your lines go to');
  return addConnectionOptions(command).action((options: ChatOptions) => chat(options));
}

async function chat(options: ChatOptions): Promise<void> {
  const { client, address, connect } = createClient(options);
  const screen = new ChatScreen();
  const pending = new ChatPendingView(client, (line) => screen.note(line));
  const sending = new Set<Promise<void>>();
  let finish: (error?: CliError) => void = () => undefined;
  const done = new Promise<CliError | undefined>((resolve) => (finish = resolve));

  client.on('message', (message) =>
    screen.print(`${message.from}: ${contentText(message.content)}`),
  );
  watchConnection(client, (line) => screen.note(line), finish);
  // Lines typed while connecting wait for the login inside send().
  screen.input.on('line', (line) => {
    const text = line.trim();
    screen.prompt();
    if (text === '') return;
    const clientMsgId = randomClientMsgId();
    pending.track(clientMsgId, text);
    // Failures are the view's to show (once); the promise only tells when the line is settled.
    const sent = client.send(options.to, { text }, { clientMsgId }).then(
      () => undefined,
      () => undefined,
    );
    sending.add(sent);
    void sent.finally(() => sending.delete(sent));
  });
  // End of input, or Ctrl-C at the prompt (readline turns it into SIGINT, then close).
  screen.input.on('SIGINT', () => screen.close());
  screen.input.on('close', () => finish());
  const interrupted = () => finish();
  process.once('SIGINT', interrupted);
  let error: CliError | undefined;
  try {
    const session = await connect();
    screen.note(
      `connected to ${address} as ${session.uid}; chatting with ${options.to} (Ctrl-C to leave)`,
    );
    screen.prompt();
    error = await done;
    // Lines already typed get their acknowledgement (or their error) before we go; while
    // disconnected that may take long, so a second Ctrl-C leaves without them.
    if (sending.size > 0) {
      if (client.state !== 'ready' && !error) {
        screen.note(
          `waiting to send ${sending.size} queued line${sending.size === 1 ? '' : 's'}; Ctrl-C to leave without`,
        );
      }
      await untilInterrupted(screen, Promise.all(sending));
    }
  } finally {
    process.off('SIGINT', interrupted);
    screen.close();
    await client.close();
  }
  if (error) throw error;
  screen.note('bye');
}

/** `work`, or sooner if the user presses Ctrl-C (a signal, or readline's on a TTY). */
async function untilInterrupted(screen: ChatScreen, work: Promise<unknown>): Promise<void> {
  let stop: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  screen.input.once('SIGINT', stop);
  try {
    await Promise.race([work, interrupted]);
  } finally {
    process.off('SIGINT', stop);
    screen.input.off('SIGINT', stop);
  }
}
