import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern } from '@nestjs/microservices';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { NoParamPipes } from '../common/no-param-pipes.decorator.js';
import { AccessListService } from '../guards/access-list.service.js';
import { SessionService } from '../session/session.service.js';
import { LoginThrottleService } from '../guards/login-throttle.service.js';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkConnection } from '../transport/connection.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { Op } from '../transport/ops.js';
import { AuthService } from './auth.service.js';
import { LoginBody, parseLoginBody } from './login-body.js';
import { LoginLimits, LoginReply } from './login.dto.js';

/** LOGIN and LOGOUT PDUs. */
@Controller()
export class LoginController {
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

  /**
   * Synchronous unless the user's rate buckets must be seeded first: with
   * @NoParamPipes (the body is checked here) and no enhancer, the transport
   * calls it directly, without Nest's chain and its promises per LOGIN.
   */
  @MessagePattern('login', { op: Op.LOGIN, public: true })
  @NoParamPipes()
  login(payload: unknown, ctx: LonglinkContext): LoginReply | Promise<LoginReply> {
    // Every outcome is counted once, by its ERROR code (metrics: longlink_logins_total).
    try {
      const conn = ctx.getConnection();
      const { uid, lastSeq } = this.check(payload, conn);
      // Cluster mode with per-user rate rules: the user's spending on other nodes comes along.
      const seeded = this.rateRules.seedUser(uid);
      if (seeded === undefined) return this.bind(conn, uid, lastSeq);
      return seeded
        .then(() => this.bind(conn, uid, lastSeq))
        .catch((err: unknown) => {
          throw this.failed(err);
        });
    } catch (err) {
      throw this.failed(err);
    }
  }

  /** The ban, the body, the token and the access lists: the user id, or throws. */
  private check(payload: unknown, conn: LonglinkConnection): { uid: string; lastSeq?: number } {
    if (this.throttle.isBanned(conn.remoteAddress)) throw ipBanned();
    let body: LoginBody;
    let uid: string;
    try {
      // Oversized or malformed tokens count like forged ones: otherwise they cost
      // a parse and a validation each, for ever, without a ban.
      body = parseLoginBody(payload);
      uid = this.auth.verify(body.token);
    } catch (err) {
      if (this.throttle.recordFailure(conn)) throw ipBanned();
      throw err;
    }
    this.access.assertUserAllowed(uid);
    return { uid, lastSeq: body.lastSeq };
  }

  private bind(conn: LonglinkConnection, uid: string, lastSeq: number | undefined): LoginReply {
    this.sessions.login(conn, uid, lastSeq);
    this.auth.countLogin('ok');
    const { intervalMs, timeoutMs } = this.config.heartbeat;
    return {
      uid,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      serverTimeMs: Date.now(),
      limits: this.withRules(),
    };
  }

  private failed(err: unknown): unknown {
    this.auth.countLogin(err instanceof LonglinkException ? err.code : ErrorCode.InternalError);
    return err;
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
