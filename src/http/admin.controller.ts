import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { AdminBodyPipe } from './admin-body.pipe.js';
import { adminIdSchema } from './admin-id.schema.js';
import { KickDto, kickSchema } from './admin-kick.dto.js';
import { AdminMessageDto, adminMessageSchema } from './admin-message.dto.js';
import { AdminTokenGuard } from './admin-token.guard.js';
import { AdminService } from './admin.service.js';
import { AdminStatsView, AdminUserView } from './admin.views.js';

const uidPipe = new AdminBodyPipe(adminIdSchema());
// An empty POST (no body, or not JSON) is a kick with the defaults.
const kickPipe = new AdminBodyPipe(kickSchema.optional());
const messagePipe = new AdminBodyPipe(adminMessageSchema);

/**
 * The operators' API: look a user up, kick it, send it a system message, read
 * this node's counters. Behind `Authorization: Bearer <admin.token>`; absent
 * (404) when admin.token is not set. See docs/OPERATIONS.md.
 */
@Controller('admin')
@UseGuards(AdminTokenGuard)
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Get('users/:uid')
  user(@Param('uid', uidPipe) uid: string): Promise<AdminUserView> {
    return this.admin.user(uid);
  }

  @Post('users/:uid/kick')
  @HttpCode(200)
  kick(
    @Param('uid', uidPipe) uid: string,
    @Body(kickPipe) body: KickDto | undefined,
  ): Promise<{ kicked: boolean; node?: string }> {
    return this.admin.kick(uid, body ?? {});
  }

  @Post('messages')
  @HttpCode(201)
  message(
    @Body(messagePipe) body: AdminMessageDto,
  ): Promise<{ msgId: string; seq: number; ts: number; duplicate: boolean }> {
    return this.admin.send(body);
  }

  @Get('stats')
  stats(): AdminStatsView {
    return this.admin.stats();
  }
}
