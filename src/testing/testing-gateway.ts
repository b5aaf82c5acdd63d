import { INestMicroservice, ModuleMetadata, Provider } from '@nestjs/common';
import { Test, TestingModule, TestingModuleBuilder } from '@nestjs/testing';
import { mintToken } from '../auth/token.factory.js';
import { LonglinkClient } from '../client/longlink.client.js';
import { LonglinkClientOptions } from '../client/client.options.js';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { mergeOptions } from '../config/config.loader.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkModule, LonglinkOptions } from '../longlink.module.js';
import { LonglinkServer } from '../transport/longlink.server.js';

export interface TestingGatewayOptions {
  /** The gateway's options, over the testing defaults: an ephemeral port, the memory store, quiet logs. */
  options?: LonglinkOptions;
  /** The application's feature modules under test. */
  imports?: ModuleMetadata['imports'];
  providers?: Provider[];
  /** Changes the testing module before it is compiled: overrideProvider, overrideGuard, … */
  configure?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
  /** Runs after the app is created and before it listens (global pipes, guards, hooks). */
  beforeListen?: (app: INestMicroservice) => void | Promise<void>;
}

const TESTING_DEFAULTS: LonglinkOptions = {
  server: { port: 0 },
  messaging: { store: 'memory' },
  log: { level: 'error' },
};

/** A gateway started for a test, and what a test needs of it. */
export class TestingGateway {
  private readonly clients: LonglinkClient[] = [];

  constructor(
    readonly app: INestMicroservice,
    readonly module: TestingModule,
    readonly server: LonglinkServer,
  ) {}

  get port(): number {
    return this.server.port;
  }

  get config(): LonglinkConfig {
    return this.module.get<LonglinkConfig>(LONGLINK_CONFIG);
  }

  /** A login token for `uid`, signed as the gateway expects. */
  token(uid: string, expiresIn = '1h'): Promise<string> {
    const { jwtSecret, jwtIssuer, jwtAudience } = this.config.auth;
    return mintToken(uid, {
      secret: jwtSecret,
      expiresIn,
      issuer: jwtIssuer,
      audience: jwtAudience,
    });
  }

  /** An SDK client connected and logged in as `uid` (closed by close()). */
  async client(uid: string, options: Partial<LonglinkClientOptions> = {}): Promise<LonglinkClient> {
    const client = new LonglinkClient({
      host: '127.0.0.1',
      port: this.port,
      token: await this.token(uid),
      reconnect: false,
      ...options,
    });
    this.clients.push(client);
    await client.connect();
    return client;
  }

  /** Closes every client it made, then the gateway. */
  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
    await this.app.close();
  }
}

/**
 * Boots a gateway with the application's modules on an ephemeral port through
 * Nest's TestingModule (so providers and guards can be overridden), listening.
 */
export async function createTestingGateway(
  options: TestingGatewayOptions = {},
): Promise<TestingGateway> {
  const server = new LonglinkServer();
  const gatewayOptions = mergeOptions(TESTING_DEFAULTS, options.options ?? {}) as LonglinkOptions;
  let builder = Test.createTestingModule({
    imports: [LonglinkModule.forRoot(gatewayOptions, server), ...(options.imports ?? [])],
    providers: options.providers ?? [],
  });
  if (options.configure) builder = options.configure(builder);
  const module = await builder.compile();
  const app = module.createNestMicroservice({ strategy: server, logger: false });
  await options.beforeListen?.(app);
  await app.listen();
  return new TestingGateway(app, module, server);
}
