import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { BlockService } from './block.service';
import { BlockedSenderGuard } from './blocked-sender.guard';

/** A feature module that adds a rule to the built-in messaging with Nest's own means. */
@Module({
  providers: [BlockService, { provide: APP_GUARD, useClass: BlockedSenderGuard }],
  exports: [BlockService],
})
export class BlockingModule {}
