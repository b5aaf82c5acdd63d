import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { errors, jwtVerify } from 'jose';
import { webcrypto } from 'node:crypto';
import { DEV_JWT_SECRET, LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/** Verifies login tokens: HS256 JWTs whose `sub` is the user id. */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly logger = new Logger('AuthService');
  /** Imported once: jose would otherwise import raw key bytes on every verify (~40% of its cost). */
  private readonly key: Promise<webcrypto.CryptoKey>;
  /** LOGIN outcomes, 'ok' or the ERROR code, counted as they happen; metrics read them at scrape. */
  readonly loginResults = new Map<string, number>();

  constructor(@Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig) {
    const raw = new TextEncoder().encode(config.auth.jwtSecret);
    this.key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [
      'verify',
    ]);
  }

  onModuleInit(): void {
    if (this.config.auth.jwtSecret === DEV_JWT_SECRET) {
      this.logger.warn(
        'auth.jwtSecret is the shipped development secret: anyone can mint tokens. Set LONGLINK_JWT_SECRET before production.',
      );
    }
  }

  countLogin(result: string): void {
    this.loginResults.set(result, (this.loginResults.get(result) ?? 0) + 1);
  }

  /** Returns the verified user id, or throws invalid-token / token-expired. */
  async verify(token: string): Promise<string> {
    const { jwtIssuer, jwtAudience } = this.config.auth;
    try {
      const { payload } = await jwtVerify(token, await this.key, {
        algorithms: ['HS256'],
        issuer: jwtIssuer ?? undefined,
        audience: jwtAudience ?? undefined,
        // A token without exp would be valid forever once leaked.
        requiredClaims: ['sub', 'exp'],
      });
      if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
        throw new LonglinkException(ErrorCode.InvalidToken, 'token has no user id (sub)');
      }
      return payload.sub;
    } catch (err) {
      if (err instanceof LonglinkException) throw err;
      if (err instanceof errors.JWTExpired) {
        throw new LonglinkException(ErrorCode.TokenExpired, 'token has expired');
      }
      const reason = err instanceof errors.JOSEError ? err.code : 'malformed';
      throw new LonglinkException(ErrorCode.InvalidToken, `token rejected (${reason})`);
    }
  }
}
