import { DynamicModule, INestMicroservice, Type } from '@nestjs/common';
import { LonglinkConfigOverrides } from '../../src/config/config.loader';
import { Gateway } from '../../src/gateway.factory';
import { LonglinkOptions } from '../../src/longlink.module';
import { createTestingGateway } from '../../src/testing';
import { TestClient } from './test-client';

export interface TestGateway extends Pick<Gateway, 'server' | 'config'> {
  app: INestMicroservice;
  port: number;
  token(uid: string, expiresIn?: string): Promise<string>;
  client(): Promise<TestClient>;
  /** Connects and logs in as `uid`. */
  loggedIn(uid: string): Promise<TestClient>;
  close(): Promise<void>;
}

/**
 * A real gateway on an ephemeral port with short timeouts, quiet logs: built
 * with longlink/testing's createTestingGateway, as an application's tests would.
 */
export async function startGateway(
  overrides: LonglinkConfigOverrides = {},
  imports: Array<Type | DynamicModule> = [],
  /** Runs between creation and listen (global enhancers, hooks). */
  beforeListen: (app: INestMicroservice) => void = () => undefined,
): Promise<TestGateway> {
  const testing = await createTestingGateway({
    options: {
      ...overrides,
      // Specs open many connections and send many bad tokens from 127.0.0.1; the
      // connect-rate cap and the failed-login ban are tested where a spec sets them.
      server: { maxConnectsPerIpPerWindow: 100000, ...overrides.server },
      auth: { maxFailedLogins: 100000, ...overrides.auth },
      // Likewise the ban of an IP whose connections keep being kicked for flooding.
      rateLimit: { maxKicksPerIp: 100000, ...overrides.rateLimit },
    } as LonglinkOptions,
    imports,
    beforeListen,
  });
  const gateway = { app: testing.app, server: testing.server, config: testing.config };
  const clients: TestClient[] = [];
  const port = gateway.server.port;
  const token = (uid: string, expiresIn = '1h') => testing.token(uid, expiresIn);
  const client = async () => {
    const c = await TestClient.connect(port);
    clients.push(c);
    return c;
  };
  return {
    ...gateway,
    port,
    token,
    client,
    async loggedIn(uid) {
      const c = await client();
      const reply = await c.login(await token(uid));
      if (reply.body?.code) throw new Error(`login failed: ${reply.body.code}`);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await testing.close();
    },
  };
}
