import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { REPLICATED_BY_DIRECT_ROUTES } from '../transport/direct-route.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkServer } from '../transport/longlink.server.js';

/**
 * Global guard: a PDU whose handler is not declared `public` needs a logged-in
 * connection. Handlers of other transports (hybrid apps) pass through.
 */
@Injectable()
export class LoginRequiredGuard implements CanActivate {
  /** The direct routes make this check themselves. */
  readonly [REPLICATED_BY_DIRECT_ROUTES] = true;

  constructor(private readonly server: LonglinkServer) {}

  canActivate(context: ExecutionContext): boolean {
    // Argument 1 is the RPC context; getArgByIndex avoids switchToRpc's per-call object.
    const ctx: unknown = context.getArgByIndex(1);
    if (!(ctx instanceof LonglinkContext)) return true;
    if (ctx.getUser() !== undefined) return true;
    if (this.server.routes.get(ctx.getOp())?.public) return true;
    throw new LonglinkException(ErrorCode.NotLoggedIn, 'log in first');
  }
}
