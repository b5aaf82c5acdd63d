import { Controller, UseGuards, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { ErrorCode, LonglinkContext, LonglinkException, LonglinkValidationPipe } from 'longlink';
import { BlockListService } from './block-list.service.js';
import { BlockDto, ReadDto, TypingDto } from './chat.dto.js';
import { ChatOp } from './chat.ops.js';
import { NoticeService } from './notice.service.js';
import { RecipientGuard } from './recipient.guard.js';

/** The logged-in user of a request (every op here needs login: none is `public`). */
function uidOf(ctx: LonglinkContext): string {
  const user = ctx.getUser();
  if (!user) throw new LonglinkException(ErrorCode.NotLoggedIn, 'log in first');
  return user.uid;
}

@Controller()
@UsePipes(LonglinkValidationPipe)
export class ChatController {
  constructor(
    private readonly notices: NoticeService,
    private readonly blocks: BlockListService,
  ) {}

  @MessagePattern('chat.typing', { op: ChatOp.TYPING })
  @UseGuards(RecipientGuard)
  typing(@Payload() body: TypingDto, @Ctx() ctx: LonglinkContext): { delivered: boolean } {
    return { delivered: this.notices.typing(uidOf(ctx), body.to) };
  }

  @MessagePattern('chat.read', { op: ChatOp.READ })
  @UseGuards(RecipientGuard)
  read(@Payload() body: ReadDto, @Ctx() ctx: LonglinkContext): { delivered: boolean } {
    return { delivered: this.notices.read(uidOf(ctx), body.to, body.upToSeq) };
  }

  @MessagePattern('chat.block', { op: ChatOp.BLOCK })
  block(@Payload() body: BlockDto, @Ctx() ctx: LonglinkContext): { blocked: string[] } {
    const uid = uidOf(ctx);
    this.blocks.block(uid, body.uid);
    return { blocked: this.blocks.blockedBy(uid) };
  }

  @MessagePattern('chat.unblock', { op: ChatOp.UNBLOCK })
  unblock(@Payload() body: BlockDto, @Ctx() ctx: LonglinkContext): { blocked: string[] } {
    const uid = uidOf(ctx);
    this.blocks.unblock(uid, body.uid);
    return { blocked: this.blocks.blockedBy(uid) };
  }
}
