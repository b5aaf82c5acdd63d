import {
  DynamicModule,
  INestApplication,
  INestMicroservice,
  LogLevel,
  Module,
  Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AddressInfo } from 'node:net';
import { loadConfig } from './config/config.loader.js';
import { LonglinkConfig, LOG_LEVELS } from './config/longlink-config.js';
import { transportOptions } from './config/transport-options.js';
import { LonglinkHttpModule } from './http/http.module.js';
import { LonglinkModule } from './longlink.module.js';
import { LonglinkServer } from './transport/longlink.server.js';

export interface GatewayOptions {
  /** Validated config; loaded from config/ and the environment when omitted. */
  config?: LonglinkConfig;
  /** The application's own feature modules. */
  imports?: Array<Type | DynamicModule>;
}

export interface Gateway {
  /**
   * The Nest application: with http.enabled an HTTP app (the one HTTP port) with the
   * transport connected to it, the hybrid shape; otherwise a microservice.
   */
  app: INestApplication | INestMicroservice;
  server: LonglinkServer;
  config: LonglinkConfig;
  /** Starts the transport, then the HTTP port when http.enabled. */
  listen(): Promise<void>;
  /** Drains the transport (/readyz answers 503 meanwhile), then closes the app. */
  close(): Promise<void>;
  /** The bound HTTP port (useful with http.port 0); 0 without HTTP. */
  readonly httpPort: number;
}

/** A transport configured from `config` (for createMicroservice). */
export function createLonglinkServer(config: LonglinkConfig): LonglinkServer {
  return new LonglinkServer(transportOptions(config));
}

/** Log levels up to and including the configured one. */
function logLevels(level: LonglinkConfig['log']['level']): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}

/** Creates (but does not start) a longlink gateway: `await gateway.listen()`. */
export async function createGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const config = options.config ?? loadConfig();
  // Built now: a bad TLS file stops startup naming its key before Nest starts.
  const transport = transportOptions(config);
  const server = new LonglinkServer(transport);
  const http = config.http.enabled;

  @Module({
    imports: [
      LonglinkModule.forRoot(config, server),
      ...(http ? [LonglinkHttpModule] : []),
      ...(options.imports ?? []),
    ],
  })
  class GatewayRootModule {}

  // Errors of start-up (a ConfigError from a provider) reach the caller instead of exiting.
  const common = { logger: logLevels(config.log.level), abortOnError: false };
  if (!http) {
    const app = await NestFactory.createMicroservice(GatewayRootModule, {
      ...common,
      strategy: server,
    });
    return {
      app,
      server,
      config,
      listen: () => app.listen(),
      close: () => app.close(),
      httpPort: 0,
    };
  }
  const app = await NestFactory.create(GatewayRootModule, {
    ...common,
    // wss:// and https:// from the same certificate as the TCP listener.
    httpsOptions: transport.tls ?? undefined,
  });
  app.connectMicroservice({ strategy: server }, { inheritAppConfig: true });
  return {
    app,
    server,
    config,
    async listen() {
      await app.startAllMicroservices();
      await app.listen(config.http.port, config.http.host);
    },
    async close() {
      await server.close();
      await app.close();
    },
    get httpPort() {
      const address = app.getHttpServer().address() as AddressInfo | null;
      return address?.port ?? 0;
    },
  };
}
