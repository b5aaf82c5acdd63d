import { Module } from '@nestjs/common';
import { GuardsModule } from '../guards/guards.module.js';
import { MessagingModule } from '../messaging/messaging.module.js';
import { SessionModule } from '../session/session.module.js';
import { ClusterDeliveryService } from './cluster-delivery.service.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { ClusterSessionsService } from './cluster-sessions.service.js';
import { PresenceService } from './presence.service.js';
import { SharedAbuseService } from './shared-abuse.service.js';
import { SharedBucketsService } from './shared-buckets.service.js';

/**
 * Cluster mode (imported when cluster.redis.url is set): presence with epochs,
 * targeted routing of stored messages, node liveness and shared abuse state in
 * Redis. The node's own sessions, store and transport are unchanged.
 */
@Module({
  imports: [SessionModule, GuardsModule, MessagingModule],
  providers: [
    ClusterRedisService,
    PresenceService,
    ClusterSessionsService,
    ClusterDeliveryService,
    SharedAbuseService,
    SharedBucketsService,
  ],
  exports: [ClusterRedisService, PresenceService, ClusterSessionsService],
})
export class ClusterModule {}
