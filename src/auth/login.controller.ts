import { Controller, Inject, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkValidationPipe } from '../common/longlink-validation.pipe.js';
import { AccessListService } from '../guards/access-list.service.js';
import { SessionService } from '../session/session.service.js';
import { LoginThrottleService } from '../guards/login-throttle.service.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { Op } from '../transport/ops.js';
import { AuthService } from './auth.service.js';
import { LoginDto, LoginReply } from './login.dto.js';

/** LOGIN and LOGOUT PDUs. */
@Controller()
@UsePipes(LonglinkValidationPipe)
export class LoginController {
  constructor(
    private readonly auth: AuthService,
    private readonly access: AccessListService,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottleService,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  @MessagePattern('login', { op: Op.LOGIN, public: true })
  async login(@Payload() body: LoginDto, @Ctx() ctx: LonglinkContext): Promise<LoginReply> {
    const conn = ctx.getConnection();
    if (this.throttle.isBanned(conn.remoteAddress)) {
      throw new LonglinkException(
        ErrorCode.IpBanned,
        'too many failed logins from this address',
        true,
      );
    }
    let uid: string;
    try {
      uid = await this.auth.verify(body.token);
    } catch (err) {
      if (this.throttle.recordFailure(conn)) {
        throw new LonglinkException(
          ErrorCode.IpBanned,
          'too many failed logins from this address',
          true,
        );
      }
      throw err;
    }
    this.access.assertUserAllowed(uid);
    this.sessions.login(conn, uid, body.lastSeq);
    const { intervalMs, timeoutMs } = this.config.heartbeat;
    return {
      uid,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      serverTimeMs: Date.now(),
    };
  }

  @MessagePattern('logout', { op: Op.LOGOUT })
  logout(@Ctx() ctx: LonglinkContext): void {
    const conn = ctx.getConnection();
    this.sessions.logout(conn);
    // The reply is queued first; end() flushes it, then closes.
    setImmediate(() => conn.end(KickReason.Logout));
  }
}
