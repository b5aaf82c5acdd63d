import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { errors, jwtVerify } from 'jose';
import { DEV_JWT_SECRET, LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/** Verifies login tokens: HS256 JWTs whose `sub` is the user id. */
@Injectable()
export class AuthService implements OnModuleInit {
  private readonly logger = new Logger('AuthService');
  private readonly key: Uint8Array;

  constructor(@Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig) {
    this.key = new TextEncoder().encode(config.auth.jwtSecret);
  }

  onModuleInit(): void {
    if (this.config.auth.jwtSecret === DEV_JWT_SECRET) {
      this.logger.warn(
        'auth.jwtSecret is the shipped development secret: anyone can mint tokens. Set LONGLINK_JWT_SECRET before production.',
      );
    }
  }

  /** Returns the verified user id, or throws invalid-token / token-expired. */
  async verify(token: string): Promise<string> {
    const { jwtIssuer, jwtAudience } = this.config.auth;
    try {
      const { payload } = await jwtVerify(token, this.key, {
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
