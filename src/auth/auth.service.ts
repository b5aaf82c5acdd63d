import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DEV_JWT_SECRET, LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { Hs256Verifier, TokenError } from './hs256-verifier.js';

/** Verifies login tokens: HS256 JWTs whose `sub` is the user id. */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly logger = new Logger('AuthService');
  private readonly verifier: Hs256Verifier;
  /** LOGIN outcomes, 'ok' or the ERROR code, counted as they happen; metrics read them at scrape. */
  readonly loginResults = new Map<string, number>();

  constructor(@Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig) {
    const { jwtSecret, jwtIssuer, jwtAudience } = config.auth;
    this.verifier = new Hs256Verifier({
      secret: jwtSecret,
      issuer: jwtIssuer,
      audience: jwtAudience,
    });
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

  /** Returns the verified user id, or throws invalid-token / token-expired. Synchronous: HMAC is cheap. */
  verify(token: string): string {
    let sub: string;
    try {
      // A token without exp would be valid forever once leaked: exp is required.
      sub = this.verifier.verify(token).sub;
    } catch (err) {
      if (err instanceof TokenError && err.code === 'ERR_JWT_EXPIRED') {
        throw new LonglinkException(ErrorCode.TokenExpired, 'token has expired');
      }
      const reason = err instanceof TokenError ? err.code : 'malformed';
      throw new LonglinkException(ErrorCode.InvalidToken, `token rejected (${reason})`);
    }
    if (sub.length === 0) {
      throw new LonglinkException(ErrorCode.InvalidToken, 'token has no user id (sub)');
    }
    return sub;
  }
}
