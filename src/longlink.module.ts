import {
  DynamicModule,
  FactoryProvider,
  Global,
  Module,
  ModuleMetadata,
  OnApplicationBootstrap,
  Provider,
} from '@nestjs/common';
import { DiscoveryModule, ModuleRef } from '@nestjs/core';
import { AuthModule } from './auth/auth.module.js';
import { ClusterModule } from './cluster/cluster.module.js';
import { LONGLINK_CONFIG, LONGLINK_OPTIONS } from './config/config.constants.js';
import { validateConfig } from './config/config.loader.js';
import { LonglinkConfig, LonglinkConfigInput } from './config/longlink-config.js';
import { transportOptions } from './config/transport-options.js';
import { GuardsModule } from './guards/guards.module.js';
import { HeartbeatModule } from './heartbeat/heartbeat.module.js';
import { MessagingModule } from './messaging/messaging.module.js';
import { SessionModule } from './session/session.module.js';
import { DirectRoutesService } from './transport/direct-routes.service.js';
import { LonglinkServer } from './transport/longlink.server.js';

/** The gateway's options, in the shape of config/default.yaml; every key is optional. */
export type LonglinkOptions = LonglinkConfigInput;

export interface LonglinkAsyncOptions {
  /** Modules whose providers `useFactory` needs (e.g. the application's ConfigModule). */
  imports?: ModuleMetadata['imports'];
  inject?: FactoryProvider['inject'];
  useFactory: FactoryProvider<LonglinkOptions | Promise<LonglinkOptions>>['useFactory'];
  /**
   * The transport to configure. By default: the LonglinkServer given to
   * NestFactory.createMicroservice({ strategy }), else a new one (app.get(LonglinkServer)).
   */
  server?: LonglinkServer;
}

/**
 * The LonglinkServer given to NestFactory.createMicroservice(AppModule, { strategy }),
 * if that is how the app was made: Nest keeps those options on its container.
 */
function appStrategy(moduleRef: ModuleRef): LonglinkServer | undefined {
  const container = (moduleRef as unknown as { container?: { contextOptions?: unknown } })
    .container;
  const strategy = (container?.contextOptions as { strategy?: unknown } | undefined)?.strategy;
  return strategy instanceof LonglinkServer ? strategy : undefined;
}

/** Makes the config and the transport injectable everywhere. */
@Global()
@Module({})
class LonglinkCoreModule {
  static register(
    options: Provider,
    server: LonglinkServer | undefined,
    imports: ModuleMetadata['imports'] = [],
  ): DynamicModule {
    return {
      module: LonglinkCoreModule,
      imports: [DiscoveryModule, ...imports],
      providers: [
        options,
        DirectRoutesService,
        {
          provide: LONGLINK_CONFIG,
          useFactory: (raw: LonglinkOptions) => validateConfig(raw),
          inject: [LONGLINK_OPTIONS],
        },
        {
          provide: LonglinkServer,
          useFactory: (config: LonglinkConfig, moduleRef: ModuleRef) => {
            const transport = server ?? appStrategy(moduleRef) ?? new LonglinkServer();
            transport.configure(transportOptions(config));
            return transport;
          },
          inject: [LONGLINK_CONFIG, ModuleRef],
        },
      ],
      exports: [LONGLINK_CONFIG, LonglinkServer],
    };
  }
}

/**
 * The gateway: sessions, login, heartbeat, guards, messaging and (with
 * cluster.redis.url) cluster mode. Import it once in the application's root
 * module beside its own feature modules, with forRoot(options) or, when the
 * options come from the application's own providers, forRootAsync(). Options
 * are validated at start with the messages of the YAML loader (loadConfig).
 */
@Module({})
export class LonglinkModule implements OnApplicationBootstrap {
  constructor(private readonly server: LonglinkServer) {}

  /** After every module's init hooks: the transport lets connections in from here on. */
  onApplicationBootstrap(): void {
    this.server.markReady();
  }

  /**
   * `server`: the transport to configure. By default the LonglinkServer given to
   * NestFactory.createMicroservice({ strategy }); in a hybrid app the module makes
   * one: `app.connectMicroservice({ strategy: app.get(LonglinkServer) })`.
   */
  static forRoot(options: LonglinkOptions = {}, server?: LonglinkServer): DynamicModule {
    return LonglinkModule.build(
      LonglinkCoreModule.register({ provide: LONGLINK_OPTIONS, useValue: options }, server),
    );
  }

  static forRootAsync(options: LonglinkAsyncOptions): DynamicModule {
    const provider: Provider = {
      provide: LONGLINK_OPTIONS,
      useFactory: options.useFactory,
      inject: options.inject ?? [],
    };
    return LonglinkModule.build(
      LonglinkCoreModule.register(provider, options.server, options.imports),
    );
  }

  private static build(core: DynamicModule): DynamicModule {
    return {
      module: LonglinkModule,
      // Feature modules inject SessionService, MessagingService, AccessListService without importing.
      global: true,
      imports: [
        core,
        SessionModule,
        GuardsModule,
        AuthModule,
        HeartbeatModule,
        MessagingModule,
        // Inert unless cluster.redis.url is set.
        ClusterModule,
      ],
      exports: [SessionModule, GuardsModule, MessagingModule],
    };
  }
}
