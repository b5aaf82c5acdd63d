import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { LonglinkContext } from '../../src/transport/longlink.context';
import { LonglinkException } from '../../src/transport/longlink.exception';

/** Refuses pokes from users whose id starts with "muted-": shows a guard with its own error code. */
@Injectable()
export class NoMutedUsersGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const ctx = context.switchToRpc().getContext<LonglinkContext>();
    if (ctx.getUser()?.uid.startsWith('muted-')) {
      throw new LonglinkException('muted', 'muted users may not poke');
    }
    return true;
  }
}
