import { Module } from '@nestjs/common';
import { AdminTokenGuard } from './admin-token.guard.js';
import { AdminController } from './admin.controller.js';
import { AdminService } from './admin.service.js';
import { DemoModule } from './demo.module.js';
import { HealthController } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';
import { WebSocketListener } from './websocket.listener.js';

/**
 * The gateway's one HTTP port: health, metrics, the admin API, the demo page,
 * the browser SDK and the WebSocket listener at /ws. Import it into the HTTP
 * application beside LonglinkModule (createGateway does when http.enabled);
 * in a microservice-only app nothing here runs.
 */
@Module({
  imports: [DemoModule],
  controllers: [HealthController, MetricsController, AdminController],
  providers: [MetricsService, AdminService, AdminTokenGuard, WebSocketListener],
})
export class LonglinkHttpModule {}
