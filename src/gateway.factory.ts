import { DynamicModule, INestMicroservice, LogLevel, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from './config/config.loader.js';
import { LonglinkConfig, LOG_LEVELS } from './config/longlink-config.js';
import { LonglinkModule } from './longlink.module.js';
import { LonglinkServer } from './transport/longlink.server.js';

export interface GatewayOptions {
  /** Validated config; loaded from config/ and the environment when omitted. */
  config?: LonglinkConfig;
  /** The application's own feature modules. */
  imports?: Array<Type | DynamicModule>;
}

export interface Gateway {
  app: INestMicroservice;
  server: LonglinkServer;
  config: LonglinkConfig;
}

/** Builds a transport from config; one place so main.ts, tests and benchmarks agree. */
export function createLonglinkServer(config: LonglinkConfig): LonglinkServer {
  const { server, heartbeat } = config;
  return new LonglinkServer({
    host: server.host,
    port: server.port,
    maxFrameBytes: server.maxFrameBytes,
    maxWriteBufferBytes: server.maxWriteBufferBytes,
    loginTimeoutMs: server.loginTimeoutMs,
    heartbeatTimeoutMs: heartbeat.timeoutMs,
    sweepIntervalMs: heartbeat.sweepIntervalMs,
  });
}

/** Log levels up to and including the configured one. */
function logLevels(level: LonglinkConfig['log']['level']): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}

/** Creates (but does not start) a longlink gateway: `await gateway.app.listen()`. */
export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const config = options.config ?? loadConfig();
  const server = createLonglinkServer(config);

  @Module({ imports: [LonglinkModule.forRoot(config, server), ...(options.imports ?? [])] })
  class GatewayRootModule {}

  const app = await NestFactory.createMicroservice(GatewayRootModule, {
    strategy: server,
    logger: logLevels(config.log.level),
  });
  return { app, server, config };
}
