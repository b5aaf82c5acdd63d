import { Module } from '@nestjs/common';
import { LonglinkHttpModule, LonglinkModule } from 'longlink';
import { AppConfig, AppConfigModule } from './app.config.js';
import { ChatModule } from './chat/chat.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [
    // The gateway, configured from the application's own settings.
    LonglinkModule.forRootAsync({
      imports: [AppConfigModule],
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        server: { host: config.host, port: config.longlinkPort },
        ...(config.jwtSecret === undefined ? {} : { auth: { jwtSecret: config.jwtSecret } }),
        // Messages in memory, lost on exit: enough for the example (the default is SQLite).
        messaging: { store: 'memory' },
      }),
    }),
    // longlink's HTTP surface on this app's own port: /ws (browsers), /metrics, /healthz, /readyz.
    LonglinkHttpModule,
    AppConfigModule,
    ChatModule,
  ],
  // In the module that imports LonglinkModule, SessionService can be injected directly.
  controllers: [HealthController],
})
export class AppModule {}
