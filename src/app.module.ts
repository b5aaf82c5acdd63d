import { Module } from '@nestjs/common';

/**
 * The application's own feature modules go here; the gateway (sessions, login,
 * heartbeat, guards) is added by createGateway() in main.ts.
 */
@Module({})
export class AppModule {}
