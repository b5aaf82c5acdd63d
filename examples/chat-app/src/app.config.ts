import { Injectable, Module } from '@nestjs/common';

function intFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name}: must be a port number (got ${JSON.stringify(raw)})`);
  }
  return value;
}

/**
 * The application's own settings, from the environment. It stands in for whatever
 * configuration service the app uses (@nestjs/config's ConfigService works the same way).
 */
@Injectable()
export class AppConfig {
  readonly host = process.env.CHAT_HOST ?? '127.0.0.1';
  readonly httpPort = intFrom('CHAT_HTTP_PORT', 3000);
  readonly longlinkPort = intFrom('CHAT_LONGLINK_PORT', 7400);
  /** Unset: longlink's development secret, which `npx longlink token` also uses. */
  readonly jwtSecret = process.env.LONGLINK_JWT_SECRET;
}

@Module({ providers: [AppConfig], exports: [AppConfig] })
export class AppConfigModule {}
