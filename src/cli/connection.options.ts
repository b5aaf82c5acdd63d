import { Command, Option } from 'commander';
import type { LonglinkClientOptions } from '../client/client.options.js';
import { LonglinkClient } from '../client/longlink.client.js';
import { formatAddress } from '../client/tcp.transport.js';
import { CliError } from './cli.error.js';
import { mintDevToken } from './dev-token.js';
import { type ServerAddress, serverAddress } from './option.parsers.js';

/** The options every connecting command takes. */
export interface ConnectionOptions {
  server: ServerAddress;
  token?: string;
  as?: string;
}

export const DEFAULT_SERVER = '127.0.0.1:7400';

export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--server <host:port>', 'gateway address')
        .argParser(serverAddress)
        .default(serverAddress(DEFAULT_SERVER), DEFAULT_SERVER),
    )
    .option('--token <token>', 'login token (a JWT from your authentication service)')
    .option(
      '--as <uid>',
      'development: log in as UID with a token minted from the configured secret',
    );
}

export interface CliClient {
  client: LonglinkClient;
  /** `host:port`, for messages. */
  address: string;
}

/**
 * A client for the command's options, not connected yet: register listeners first, then
 * connect(), so nothing pushed right after the login is missed.
 */
export function createClient(
  options: ConnectionOptions,
  clientOptions: Omit<LonglinkClientOptions, 'token' | 'host' | 'port'> = {},
): CliClient {
  const { host, port } = options.server;
  const client = new LonglinkClient({ ...clientOptions, host, port, token: tokenSource(options) });
  return { client, address: formatAddress(host, port) };
}

/** --token as given; --as mints a fresh token before every login, so long sessions outlive one. */
function tokenSource(options: ConnectionOptions): string | (() => Promise<string>) {
  const { token, as } = options;
  if (token !== undefined && as !== undefined) throw new CliError('give --token or --as, not both');
  if (token !== undefined) return token;
  if (as !== undefined) return () => mintDevToken(as);
  throw new CliError('give --token T, or --as UID to log in with a development token');
}
