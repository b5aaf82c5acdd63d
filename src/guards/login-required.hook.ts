import { Injectable } from '@nestjs/common';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { Op } from '../transport/ops.js';
import { TransportHooks } from '../transport/transport-hooks.js';

const NOT_LOGGED_IN_BODY = JSON.stringify({
  code: ErrorCode.NotLoggedIn,
  message: 'log in first',
});

/**
 * LoginRequiredGuard's counterpart for frames no handler claims: before login,
 * an unknown op is answered not-logged-in rather than revealing which ops exist.
 */
@Injectable()
export class LoginRequiredHook implements TransportHooks {
  constructor(private readonly server: LonglinkServer) {}

  onFrame(conn: LonglinkConnection, op: number, seq: number): boolean {
    if (conn.user !== undefined || this.server.routes.get(op) !== undefined) return true;
    conn.send(Op.ERROR, seq, NOT_LOGGED_IN_BODY);
    return false;
  }
}
