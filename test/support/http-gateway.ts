import { DynamicModule, Type } from '@nestjs/common';
import { mintToken } from '../../src/auth/token.factory';
import { LonglinkConfigOverrides, loadConfig, mergeOptions } from '../../src/config/config.loader';
import { Gateway, createGateway } from '../../src/gateway.factory';

export interface HttpTestGateway {
  gateway: Gateway;
  /** The TCP port. */
  port: number;
  /** The HTTP port (demo page, /ws, /metrics, /healthz, /readyz, /admin). */
  httpPort: number;
  /** `http://127.0.0.1:<httpPort>` */
  baseUrl: string;
  token(uid: string, expiresIn?: string): Promise<string>;
  close(): Promise<void>;
}

/** What specs of the HTTP port share: ephemeral ports, the memory store, quiet logs, no ban of 127.0.0.1. */
const DEFAULTS: LonglinkConfigOverrides = {
  server: { port: 0, maxConnectsPerIpPerWindow: 100000 },
  http: { port: 0 },
  messaging: { store: 'memory' },
  auth: { maxFailedLogins: 100000 },
  rateLimit: { maxKicksPerIp: 100000 },
  log: { level: 'error' },
};

/**
 * A real gateway as `npm start` builds it (createGateway: the HTTP app with the
 * TCP transport connected), on ephemeral ports, listening.
 */
export async function startHttpGateway(
  overrides: LonglinkConfigOverrides = {},
  imports: Array<Type | DynamicModule> = [],
): Promise<HttpTestGateway> {
  const config = loadConfig({
    env: {},
    overrides: mergeOptions(DEFAULTS, overrides) as LonglinkConfigOverrides,
  });
  const gateway = await createGateway({ config, imports });
  await gateway.listen();
  const httpPort = gateway.httpPort;
  const { jwtSecret, jwtIssuer, jwtAudience } = config.auth;
  return {
    gateway,
    port: gateway.server.port,
    httpPort,
    baseUrl: `http://127.0.0.1:${httpPort}`,
    token: (uid, expiresIn = '1h') =>
      mintToken(uid, { secret: jwtSecret, expiresIn, issuer: jwtIssuer, audience: jwtAudience }),
    close: () => gateway.close(),
  };
}
