import { Injectable } from '@nestjs/common';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { TransportHooks } from '../transport/transport-hooks.js';

const NOT_LOGGED_IN_BODY = JSON.stringify({
  code: ErrorCode.NotLoggedIn,
  message: 'log in first',
});

/**
 * The login check before anything is decoded: on a connection that has not
 * logged in, a frame for any op that is not public (handled or not) is answered
 * not-logged-in from its header alone. Its body is never parsed, so a flood of
 * costly bodies before login costs no more than reading them; and an unknown op
 * gets the same answer, revealing nothing of which ops exist. LoginRequiredGuard
 * stays as the check inside Nest's chain.
 */
@Injectable()
export class LoginRequiredHook implements TransportHooks {
  constructor(private readonly server: LonglinkServer) {}

  onFrame(conn: LonglinkConnection, op: number, seq: number): boolean {
    if (conn.user !== undefined || this.server.routes.get(op)?.public === true) return true;
    conn.sendError(seq, ErrorCode.NotLoggedIn, NOT_LOGGED_IN_BODY);
    return false;
  }
}
