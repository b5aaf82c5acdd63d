import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { LonglinkContext } from '../../src/transport/longlink.context';
import { LonglinkException } from '../../src/transport/longlink.exception';
import { BlockService } from './block.service';

/**
 * A global guard on the built-in MSG_SEND: refuses a message whose recipient has
 * blocked the sender, before anything is stored. Every other op passes.
 */
@Injectable()
export class BlockedSenderGuard implements CanActivate {
  constructor(private readonly blocks: BlockService) {}

  canActivate(context: ExecutionContext): boolean {
    // Argument 1 is the RPC context, argument 0 the parsed body.
    const ctx: unknown = context.getArgByIndex(1);
    if (!(ctx instanceof LonglinkContext) || ctx.getOp() !== MsgOp.SEND) return true;
    const sender = ctx.getUser()?.uid;
    if (sender === undefined) return true; // LoginRequiredGuard answers this one
    const body: unknown = context.getArgByIndex(0);
    const to =
      typeof body === 'object' && body !== null ? (body as { to?: unknown }).to : undefined;
    if (typeof to === 'string' && this.blocks.isBlocked(to, sender)) {
      throw new LonglinkException('blocked', `${to} does not accept messages from ${sender}`);
    }
    return true;
  }
}
