import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { AuthService } from '../auth/auth.service.js';
import { ClusterRedisService } from '../cluster/cluster-redis.service.js';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { DeliveryService } from '../messaging/delivery.service.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { SessionService } from '../session/session.service.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { registerMessagingMetrics } from './metrics-messaging.collector.js';
import { registerNodeMetrics } from './metrics-node.collector.js';
import { registerRateRuleMetrics } from './metrics-rate-rules.collector.js';
import { registerTransportMetrics } from './metrics-transport.collector.js';

/** Why an admin request was refused (label of longlink_admin_refused_total). */
export type AdminRefusal = 'missing-token' | 'invalid-token';

/**
 * The gateway's Prometheus registry: its own per gateway (several may run in
 * one process, e.g. in tests), never prom-client's global one. Holds the
 * default process metrics and longlink's, which read the services' plain
 * counters at scrape time.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();
  readonly adminRefused = new Counter<'reason'>({
    name: 'longlink_admin_refused_total',
    help: 'Admin API requests refused with 401, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  constructor(
    private readonly server: LonglinkServer,
    private readonly sessions: SessionService,
    private readonly messaging: MessagingService,
    private readonly delivery: DeliveryService,
    private readonly moduleRef: ModuleRef,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  onModuleInit(): void {
    collectDefaultMetrics({ register: this.registry });
    // Internal to LonglinkModule (not exported to the HTTP module): looked up.
    const auth = this.moduleRef.get(AuthService, { strict: false });
    const cluster = this.moduleRef.get(ClusterRedisService, { strict: false });
    registerTransportMetrics(this.registry, {
      server: this.server,
      sessions: this.sessions,
      loginResults: auth.loginResults,
    });
    registerMessagingMetrics(this.registry, this.messaging, this.delivery);
    registerRateRuleMetrics(this.registry, this.moduleRef.get(RateRulesHook, { strict: false }));
    registerNodeMetrics(this.registry, this.server, {
      node: cluster.nodeId,
      store: this.config.messaging.store,
      cluster: cluster.enabled,
    });
    for (const reason of ['missing-token', 'invalid-token'] satisfies AdminRefusal[]) {
      this.adminRefused.inc({ reason }, 0);
    }
  }

  onModuleDestroy(): void {
    this.registry.clear();
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
