import { ConnectionUser, LonglinkConnection } from '../transport/connection.js';

/** The seed's User: uid, its one connection, whether it was kicked, when it logged in. */
export class SessionUser implements ConnectionUser {
  kicked = false;
  readonly loginAt = Date.now();

  constructor(
    readonly uid: string,
    readonly conn: LonglinkConnection,
  ) {}
}
