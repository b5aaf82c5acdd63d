import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { LonglinkContext, LonglinkException } from 'longlink';
import { BlockListService } from './block-list.service.js';
import { ChatErrorCode } from './chat.ops.js';

/**
 * Refuses a notice to oneself (`chat-self-target`) or to a user who blocked the sender
 * (`chat-blocked`). Guards run before pipes: the body here is the raw parsed JSON, not yet
 * validated, so the guard checks what it reads and leaves anything malformed to the pipe.
 */
@Injectable()
export class RecipientGuard implements CanActivate {
  constructor(private readonly blocks: BlockListService) {}

  canActivate(context: ExecutionContext): boolean {
    const rpc = context.switchToRpc();
    const from = rpc.getContext<LonglinkContext>().getUser()?.uid;
    const body: unknown = rpc.getData();
    const to = typeof body === 'object' && body !== null ? (body as { to?: unknown }).to : null;
    // Not logged in: LoginRequiredGuard has answered already. No string `to`: the pipe answers.
    if (from === undefined || typeof to !== 'string') return true;
    if (to === from) {
      throw new LonglinkException(ChatErrorCode.SelfTarget, 'notices go to other users');
    }
    if (this.blocks.isBlocked(to, from)) {
      throw new LonglinkException(ChatErrorCode.Blocked, `${to} does not accept notices from you`);
    }
    return true;
  }
}
