import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkValidationPipe } from '../common/longlink-validation.pipe.js';
import { AccessListService } from '../guards/access-list.service.js';
import { SessionService } from '../session/session.service.js';
import { LoginThrottleService } from '../guards/login-throttle.service.js';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { Op } from '../transport/ops.js';
import { AuthService } from './auth.service.js';
import { LoginDto, LoginLimits, LoginReply } from './login.dto.js';

const LOGIN_BODY = { type: 'body', metatype: LoginDto } as const;

/** LOGIN and LOGOUT PDUs. */
@Controller()
export class LoginController {
  /** Applied in the handler, not as a pipe: a malformed LOGIN is a failed login too. */
  private readonly validation = new LonglinkValidationPipe();
  private readonly limits: LoginLimits;

  constructor(
    private readonly auth: AuthService,
    private readonly access: AccessListService,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottleService,
    private readonly rateRules: RateRulesHook,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {
    const { rateLimit, server, messaging } = config;
    this.limits = {
      maxPackets: rateLimit.maxPackets,
      intervalMs: rateLimit.intervalMs,
      kickPackets: rateLimit.kickPackets,
      maxFrameBytes: server.maxFrameBytes,
      maxBytes: rateLimit.maxBytes,
      pushWindow: messaging.pushWindow,
    };
  }

  @MessagePattern('login', { op: Op.LOGIN, public: true })
  async login(@Payload() payload: unknown, @Ctx() ctx: LonglinkContext): Promise<LoginReply> {
    // Every outcome is counted once, by its ERROR code (metrics: longlink_logins_total).
    try {
      const reply = await this.attempt(payload, ctx);
      this.auth.countLogin('ok');
      return reply;
    } catch (err) {
      this.auth.countLogin(err instanceof LonglinkException ? err.code : ErrorCode.InternalError);
      throw err;
    }
  }

  private async attempt(payload: unknown, ctx: LonglinkContext): Promise<LoginReply> {
    const conn = ctx.getConnection();
    if (this.throttle.isBanned(conn.remoteAddress)) throw ipBanned();
    let body: LoginDto;
    let uid: string;
    try {
      // Oversized or malformed tokens count like forged ones: otherwise they cost
      // a parse and a validation each, for ever, without a ban.
      body = (await this.validation.transform(payload, LOGIN_BODY)) as LoginDto;
      uid = await this.auth.verify(body.token);
    } catch (err) {
      if (this.throttle.recordFailure(conn)) throw ipBanned();
      throw err;
    }
    this.access.assertUserAllowed(uid);
    // Cluster mode with per-user rate rules: the user's spending on other nodes comes along.
    const seeded = this.rateRules.seedUser(uid);
    if (seeded !== undefined) await seeded;
    this.sessions.login(conn, uid, body.lastSeq);
    const { intervalMs, timeoutMs } = this.config.heartbeat;
    return {
      uid,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      serverTimeMs: Date.now(),
      limits: this.withRules(),
    };
  }

  /** The limits, with the rate rules once they are compiled (at module init, after this constructor). */
  private withRules(): LoginLimits {
    const rules = this.rateRules.announced;
    if (rules.length > 0 && this.limits.rules === undefined) this.limits.rules = rules;
    return this.limits;
  }

  @MessagePattern('logout', { op: Op.LOGOUT })
  logout(@Ctx() ctx: LonglinkContext): void {
    const conn = ctx.getConnection();
    this.sessions.logout(conn);
    // The reply is queued first; end() flushes it, then closes.
    setImmediate(() => conn.end(KickReason.Logout));
  }
}

function ipBanned(): LonglinkException {
  return new LonglinkException(
    ErrorCode.IpBanned,
    'too many failed logins from this address',
    true,
  );
}
