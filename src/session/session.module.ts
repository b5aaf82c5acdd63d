import { Module } from '@nestjs/common';
import { MemorySessionRegistry } from './memory-session.registry.js';
import { SESSION_REGISTRY } from './session.registry.js';
import { SessionService } from './session.service.js';

/** Provides SessionService; the registry is swappable through SESSION_REGISTRY. */
@Module({
  providers: [{ provide: SESSION_REGISTRY, useClass: MemorySessionRegistry }, SessionService],
  exports: [SessionService, SESSION_REGISTRY],
})
export class SessionModule {}
