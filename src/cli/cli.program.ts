import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chatCommand } from './chat.command.js';
import { describeError, exitCodeOf } from './cli.error.js';
import { clusterCommand } from './cluster.command.js';
import { listenCommand } from './listen.command.js';
import { sendCommand } from './send.command.js';
import { tokenCommand } from './token.command.js';

/** The package version, from src/cli or dist/cli alike (both two levels below the root). */
function packageVersion(): string {
  try {
    const text = readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8');
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  return new Command('longlink')
    .description('try a longlink gateway from the command line')
    .version(packageVersion())
    .addCommand(tokenCommand())
    .addCommand(sendCommand())
    .addCommand(listenCommand())
    .addCommand(chatCommand())
    .addCommand(clusterCommand())
    .showHelpAfterError('(add --help for usage)');
}

/** Runs the CLI; every failure is one `error: …` line on stderr and a non-zero exit code. */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    process.stderr.write(`error: ${describeError(error)}\n`);
    process.exitCode = exitCodeOf(error);
  }
}
