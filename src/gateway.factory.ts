import { DynamicModule, INestMicroservice, LogLevel, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { loadConfig } from './config/config.loader.js';
import { LonglinkConfig, LOG_LEVELS } from './config/longlink-config.js';
import { transportOptions } from './config/transport-options.js';
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

/** A transport configured from `config` (for createMicroservice). */
export function createLonglinkServer(config: LonglinkConfig): LonglinkServer {
  return new LonglinkServer(transportOptions(config));
}

/** Log levels up to and including the configured one. */
function logLevels(level: LonglinkConfig['log']['level']): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}

/** Creates (but does not start) a longlink gateway: `await gateway.app.listen()`. */
export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const config = options.config ?? loadConfig();
  // Built now: a bad TLS file stops startup naming its key before Nest starts.
  const server = createLonglinkServer(config);

  @Module({ imports: [LonglinkModule.forRoot(config, server), ...(options.imports ?? [])] })
  class GatewayRootModule {}

  const app = await NestFactory.createMicroservice(GatewayRootModule, {
    strategy: server,
    logger: logLevels(config.log.level),
    // Errors of start-up (a ConfigError from a provider) reach the caller instead of exiting.
    abortOnError: false,
  });
  return { app, server, config };
}
