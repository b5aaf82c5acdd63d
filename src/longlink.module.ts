import { DynamicModule, Global, Module, OnApplicationBootstrap } from '@nestjs/common';
import { AuthModule } from './auth/auth.module.js';
import { ClusterModule } from './cluster/cluster.module.js';
import { LONGLINK_CONFIG } from './config/config.constants.js';
import { LonglinkConfig } from './config/longlink-config.js';
import { GuardsModule } from './guards/guards.module.js';
import { HeartbeatModule } from './heartbeat/heartbeat.module.js';
import { MessagingModule } from './messaging/messaging.module.js';
import { SessionModule } from './session/session.module.js';
import { LonglinkServer } from './transport/longlink.server.js';

/** Makes the config and the transport injectable everywhere. */
@Global()
@Module({})
class LonglinkCoreModule {
  static forRoot(config: LonglinkConfig, server: LonglinkServer): DynamicModule {
    return {
      module: LonglinkCoreModule,
      providers: [
        { provide: LONGLINK_CONFIG, useValue: config },
        { provide: LonglinkServer, useValue: server },
      ],
      exports: [LONGLINK_CONFIG, LonglinkServer],
    };
  }
}

/**
 * The gateway: sessions, login, heartbeat, guards and messaging. Import
 * it once in the application's root module beside its own feature modules.
 */
@Module({})
export class LonglinkModule implements OnApplicationBootstrap {
  constructor(private readonly server: LonglinkServer) {}

  /** After every module's init hooks: the transport lets connections in from here on. */
  onApplicationBootstrap(): void {
    this.server.markReady();
  }

  static forRoot(config: LonglinkConfig, server: LonglinkServer): DynamicModule {
    return {
      module: LonglinkModule,
      imports: [
        LonglinkCoreModule.forRoot(config, server),
        SessionModule,
        GuardsModule,
        AuthModule,
        HeartbeatModule,
        MessagingModule,
        // Setting cluster.redis.url alone turns cluster mode on.
        ...(config.cluster.redis.url !== null ? [ClusterModule] : []),
      ],
      exports: [SessionModule, GuardsModule, MessagingModule],
    };
  }
}
