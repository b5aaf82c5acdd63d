import { Command } from 'commander';
import { mintDevToken } from './dev-token.js';

/** `longlink token UID [--ttl 1h]`: prints a development token (for --token, or other tools). */
export function tokenCommand(): Command {
  return new Command('token')
    .description('print a login token for UID, signed with the configured development secret')
    .argument('<uid>', 'user id (the token subject)')
    .option('--ttl <duration>', 'lifetime: 30m, 1h, 7d, …', '1h')
    .action(async (uid: string, options: { ttl: string }) => {
      process.stdout.write(`${await mintDevToken(uid, options.ttl)}\n`);
    });
}
