import { DynamicModule, INestMicroservice, LogLevel, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './config/config.error.js';
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
  const { server, heartbeat, rateLimit } = config;
  return new LonglinkServer({
    host: server.host,
    port: server.port,
    maxFrameBytes: server.maxFrameBytes,
    // A config that lowers maxFrameBytes lowers the pre-login limit with it.
    maxPreLoginFrameBytes: Math.min(server.maxPreLoginFrameBytes, server.maxFrameBytes),
    maxWriteBufferBytes: server.maxWriteBufferBytes,
    maxJsonDepth: server.maxJsonDepth,
    maxJsonItems: server.maxJsonItems,
    readBudget: {
      intervalMs: rateLimit.intervalMs,
      maxBytes: rateLimit.maxBytes,
      maxIpBytes: rateLimit.maxIpBytes,
      maxPreLoginBytes: rateLimit.maxPreLoginBytes,
      maxPreLoginIpBytes: rateLimit.maxPreLoginIpBytes,
    },
    loginTimeoutMs: server.loginTimeoutMs,
    heartbeatTimeoutMs: heartbeat.timeoutMs,
    sweepIntervalMs: heartbeat.sweepIntervalMs,
    maxKicksPerTurn: heartbeat.maxKicksPerTurn,
    drainTimeoutMs: server.drainTimeoutMs,
    reconnectAfterMs: server.reconnectAfterMs,
    reconnectJitterMs: server.reconnectJitterMs,
    tls: readTlsFiles(server.tls),
  });
}

/** Reads the PEM files named in server.tls; a missing file stops startup naming the key. */
function readTlsFiles(tls: LonglinkConfig['server']['tls']): { cert: Buffer; key: Buffer } | null {
  if (tls.certFile === null || tls.keyFile === null) return null;
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`server.tls.${key}`, `cannot read ${file} (${(err as Error).message})`);
    }
  };
  const pair = { cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile) };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError(
      'server.tls',
      `certificate and key are not usable (${(err as Error).message})`,
    );
  }
  return pair;
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
