import { mintToken } from '../auth/token.factory.js';
import { loadConfig } from '../config/config.loader.js';
import { CliError } from './cli.error.js';

/**
 * Mints a login token for `uid` with the configured secret (config/default.yaml, LONGLINK_CONFIG,
 * LONGLINK_JWT_SECRET), as the gateway on this machine would verify it. For development only:
 * production tokens come from your own authentication service.
 */
export async function mintDevToken(uid: string, ttl = '1h'): Promise<string> {
  const { auth } = loadConfig();
  try {
    return await mintToken(uid, {
      secret: auth.jwtSecret,
      expiresIn: ttl,
      issuer: auth.jwtIssuer,
      audience: auth.jwtAudience,
    });
  } catch (error) {
    // jose rejects a malformed lifetime with a TypeError naming it.
    if (error instanceof TypeError) {
      throw new CliError(`invalid --ttl ${JSON.stringify(ttl)}: use e.g. 30m, 1h or 7d`);
    }
    throw error;
  }
}
