import { BaseRpcContext } from '@nestjs/microservices';
import { ConnectionUser, LonglinkConnection } from './connection.js';

type LonglinkContextArgs = [LonglinkConnection, number, number];

/** What a longlink handler gets with @Ctx(): the connection, the frame's op and seq, the user. */
export class LonglinkContext extends BaseRpcContext<LonglinkContextArgs> {
  getConnection(): LonglinkConnection {
    return this.args[0];
  }

  getOp(): number {
    return this.args[1];
  }

  getSeq(): number {
    return this.args[2];
  }

  /** The logged-in user, or undefined before login. */
  getUser(): ConnectionUser | undefined {
    return this.args[0].user;
  }
}
