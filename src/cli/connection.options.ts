import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import type { LonglinkClientOptions } from '../client/client.options.js';
import { ClientErrorCode, LonglinkClientError } from '../client/longlink-client.error.js';
import { LonglinkClient } from '../client/longlink.client.js';
import type { SessionInfo } from '../client/server-bodies.js';
import { formatAddress } from '../client/tcp.transport.js';
import { CliError } from './cli.error.js';
import { mintDevToken } from './dev-token.js';
import { type ServerAddress, serverAddress } from './option.parsers.js';

/** The options every connecting command takes. */
export interface ConnectionOptions {
  server: ServerAddress;
  token?: string;
  as?: string;
  tls?: boolean;
  ca?: string;
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
    )
    .option('--tls', 'connect over TLS, checking the certificate against the system CAs')
    .option(
      '--ca <file>',
      'trust this PEM certificate (a private CA, a self-signed gateway); implies --tls',
    );
}

export interface CliClient {
  client: LonglinkClient;
  /** `host:port`, for messages. */
  address: string;
  /** client.connect(), with a hint when a plain connection is dropped during the login. */
  connect(): Promise<SessionInfo>;
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
  const token = tokenSource(options);
  const tls = tlsOption(options);
  const client = new LonglinkClient({ ...clientOptions, host, port, token, tls });
  const connect = () =>
    client.connect().catch((error: unknown) => {
      // A TLS gateway drops a plain client without a word: its LOGIN looks like a bad handshake.
      if (
        !tls &&
        error instanceof LonglinkClientError &&
        error.code === ClientErrorCode.Disconnected
      ) {
        throw new CliError(
          `${error.code} (${error.message} during the login; if the gateway uses TLS, add --tls or --ca FILE)`,
        );
      }
      throw error;
    });
  return { client, address: formatAddress(host, port), connect };
}

/** --ca FILE (read now, so a bad path is one line before connecting), --tls, or plain TCP. */
function tlsOption(options: ConnectionOptions): LonglinkClientOptions['tls'] {
  const { ca, tls = false } = options;
  if (ca === undefined) return tls;
  try {
    return { ca: readFileSync(ca) };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`cannot read --ca ${ca} (${reason})`);
  }
}

/** --token as given; --as mints a fresh token before every login, so long sessions outlive one. */
function tokenSource(options: ConnectionOptions): string | (() => Promise<string>) {
  const { token, as } = options;
  if (token !== undefined && as !== undefined) throw new CliError('give --token or --as, not both');
  if (token !== undefined) return token;
  if (as !== undefined) return () => mintDevToken(as);
  throw new CliError('give --token T, or --as UID to log in with a development token');
}
