import { Module } from '@nestjs/common';
import { BlockListService } from './block-list.service.js';
import { ChatController } from './chat.controller.js';
import { NoticeService } from './notice.service.js';
import { RecipientGuard } from './recipient.guard.js';

/** Typing indicators and read receipts: new PDUs, a guard and pushes, with no change to longlink. */
@Module({
  controllers: [ChatController],
  providers: [BlockListService, NoticeService, RecipientGuard],
  exports: [BlockListService],
})
export class ChatModule {}
