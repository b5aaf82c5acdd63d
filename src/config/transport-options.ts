import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { LonglinkServerOptions } from '../transport/longlink.server.js';
import { ConfigError } from './config.error.js';
import { LonglinkConfig, toBlockList } from './longlink-config.js';

/** The transport's options from config; one place so main.ts, the module, tests and benchmarks agree. */
export function transportOptions(config: LonglinkConfig): LonglinkServerOptions {
  const { server, heartbeat, rateLimit } = config;
  return {
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
    proxyProtocol:
      server.proxyProtocol === 'off'
        ? null
        : {
            mode: server.proxyProtocol,
            trusted: toBlockList(server.trustedProxies),
            headerTimeoutMs: server.proxyHeaderTimeoutMs,
          },
  };
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
