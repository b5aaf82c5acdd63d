import {
  CanActivate,
  ExecutionContext,
  Inject,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { AdminRefusal, MetricsService } from './metrics.service.js';

/** The request surface read here (Express and Fastify both have it). */
interface AdminRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

interface AdminResponse {
  header(name: string, value: string): unknown;
}

/** Equal-length digests: timingSafeEqual then takes the same time whatever the guess. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * `Authorization: Bearer <admin.token>` in front of /admin. Without admin.token
 * the API does not exist: 404 as for any unknown route. A missing or wrong
 * token is 401 and counted (longlink_admin_refused_total), compared in constant time.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
    private readonly metrics: MetricsService,
  ) {
    this.expected = config.admin.token === null ? null : digest(config.admin.token);
  }

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const req = http.getRequest<AdminRequest>();
    // Nest's own 404 body for an unknown route.
    if (this.expected === null) throw new NotFoundException(`Cannot ${req.method} ${req.url}`);
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/i.exec(header.trim()) : null;
    if (match === null) return this.refuse('missing-token', http.getResponse<AdminResponse>());
    if (!timingSafeEqual(digest(match[1]), this.expected)) {
      return this.refuse('invalid-token', http.getResponse<AdminResponse>());
    }
    return true;
  }

  private refuse(reason: AdminRefusal, res: AdminResponse): never {
    this.metrics.adminRefused.inc({ reason });
    res.header('WWW-Authenticate', 'Bearer realm="longlink-admin"');
    throw new UnauthorizedException({
      statusCode: 401,
      error: 'unauthorized',
      message:
        reason === 'missing-token'
          ? 'Authorization: Bearer <admin.token> is required'
          : 'the admin token is not valid',
    });
  }
}
