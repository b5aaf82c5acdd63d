import { Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { RateLimitDiscovery } from '../limits/rate-limit.discovery.js';
import { RateRulesHook } from '../limits/rate-rules.hook.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { AccessListService } from './access-list.service.js';
import { AccessReloadService } from './access-reload.service.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { ConnectionAccessHook } from './connection-access.hook.js';
import { FloodKickService } from './flood-kick.service.js';
import { LoginRequiredGuard } from './login-required.guard.js';
import { LoginRequiredHook } from './login-required.hook.js';
import { PacketRateHook } from './packet-rate.hook.js';

/**
 * The checks: Nest guards where Nest sees the PDU, transport hooks where they
 * must act first (at accept, and for every frame including unclaimed ones).
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    AccessListService,
    AccessReloadService,
    LoginThrottleService,
    ConnectionAccessHook,
    FloodKickService,
    PacketRateHook,
    LoginRequiredHook,
    RateLimitDiscovery,
    RateRulesHook,
    { provide: APP_GUARD, useClass: LoginRequiredGuard },
  ],
  exports: [
    AccessListService,
    AccessReloadService,
    LoginThrottleService,
    ConnectionAccessHook,
    RateRulesHook,
  ],
})
export class GuardsModule implements OnModuleInit {
  constructor(
    private readonly server: LonglinkServer,
    private readonly connectionAccess: ConnectionAccessHook,
    private readonly packetRate: PacketRateHook,
    private readonly loginRequired: LoginRequiredHook,
    private readonly rateRules: RateRulesHook,
  ) {}

  onModuleInit(): void {
    // Order matters: the rate hook counts every frame before anything else runs.
    this.server.addHooks(this.connectionAccess);
    this.server.addHooks(this.packetRate);
    this.server.addHooks(this.loginRequired);
    // Token buckets need the user the login check vouches for; no rules, no hook on the hot path.
    if (this.rateRules.compile()) this.server.addHooks(this.rateRules);
  }
}
