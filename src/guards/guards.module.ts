import { Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { LonglinkServer } from '../transport/longlink.server.js';
import { AccessListService } from './access-list.service.js';
import { AccessReloadService } from './access-reload.service.js';
import { LoginThrottleService } from './login-throttle.service.js';
import { ConnectionAccessHook } from './connection-access.hook.js';
import { LoginRequiredGuard } from './login-required.guard.js';
import { LoginRequiredHook } from './login-required.hook.js';
import { PacketRateHook } from './packet-rate.hook.js';

/**
 * The checks: Nest guards where Nest sees the PDU, transport hooks where they
 * must act first (at accept, and for every frame including unclaimed ones).
 */
@Module({
  providers: [
    AccessListService,
    AccessReloadService,
    LoginThrottleService,
    ConnectionAccessHook,
    PacketRateHook,
    LoginRequiredHook,
    { provide: APP_GUARD, useClass: LoginRequiredGuard },
  ],
  exports: [AccessListService, AccessReloadService, LoginThrottleService, ConnectionAccessHook],
})
export class GuardsModule implements OnModuleInit {
  constructor(
    private readonly server: LonglinkServer,
    private readonly connectionAccess: ConnectionAccessHook,
    private readonly packetRate: PacketRateHook,
    private readonly loginRequired: LoginRequiredHook,
  ) {}

  onModuleInit(): void {
    // Order matters: the rate hook counts every frame before anything else runs.
    this.server.addHooks(this.connectionAccess);
    this.server.addHooks(this.packetRate);
    this.server.addHooks(this.loginRequired);
  }
}
