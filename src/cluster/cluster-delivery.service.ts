import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { DeliveryService } from '../messaging/delivery.service.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { ClusterSessionsService } from './cluster-sessions.service.js';
import { PresenceService } from './presence.service.js';

/**
 * Targeted routing: once a message is stored for a user who is not logged in
 * here, only the node holding that user is told (its own channel), never every
 * node; a user offline everywhere costs one lookup and waits in the store. A
 * lost notification costs latency only: after a Redis outage every local inbox
 * is read again from the store.
 */
@Injectable()
export class ClusterDeliveryService implements OnModuleInit, OnModuleDestroy {
  private subscription: Subscription | null = null;

  constructor(
    private readonly redis: ClusterRedisService,
    private readonly presence: PresenceService,
    private readonly messaging: MessagingService,
    private readonly delivery: DeliveryService,
    private readonly sessions: ClusterSessionsService,
  ) {}

  onModuleInit(): void {
    if (!this.redis.enabled) return;
    this.subscription = this.messaging.stored$.subscribe(({ message }) => {
      if (!this.delivery.isLocal(message.to)) {
        void this.presence.tellOwner(message.to, { t: 'msg', m: message });
      }
    });
    this.redis.onInbox((m) => {
      if (m.t === 'msg') this.delivery.onStored(m.m);
    });
    this.redis.onReconnect(() => void this.delivery.catchUp());
    // Messages stored elsewhere before our claim reached Redis were routed nowhere: read them.
    this.sessions.onClaimed((user) => void this.delivery.catchUp(user.uid));
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
