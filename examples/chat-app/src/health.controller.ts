import { Controller, Get } from '@nestjs/common';
import { LonglinkServer, SessionService } from 'longlink';

/** Plain HTTP beside the gateway, in the same process and the same DI container. */
@Controller()
export class HealthController {
  constructor(
    private readonly sessions: SessionService,
    private readonly server: LonglinkServer,
  ) {}

  @Get('health')
  health(): { status: 'ok'; connections: number; online: number } {
    return {
      status: 'ok',
      connections: this.server.connectionCount,
      online: this.sessions.count(),
    };
  }

  /** The users logged in on this node. */
  @Get('online')
  online(): { users: string[] } {
    return { users: [...this.sessions.onlineUids()].sort() };
  }
}
