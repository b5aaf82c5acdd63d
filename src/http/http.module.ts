import { Module } from '@nestjs/common';
import { HealthController } from './health.controller.js';
import { WebSocketListener } from './websocket.listener.js';

/**
 * The gateway's one HTTP port: health, metrics, the admin API, the demo page,
 * the browser SDK and the WebSocket listener at /ws. Import it into the HTTP
 * application beside LonglinkModule (createGateway does when http.enabled);
 * in a microservice-only app nothing here runs.
 */
@Module({
  controllers: [HealthController],
  providers: [WebSocketListener],
})
export class LonglinkHttpModule {}
