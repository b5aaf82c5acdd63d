import { Inject, Injectable } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { TransportHooks } from '../transport/transport-hooks.js';
import { AccessListService } from './access-list.service.js';

/** At accept, before any byte is read: IP lists and bans, the per-IP connect rate and connection cap. */
@Injectable()
export class ConnectionAccessHook implements TransportHooks {
  private readonly perIp = new Map<string, number>();
  private readonly maxPerIp: number;
  /** Connects per IP in the current window; the map is dropped whole each window. */
  private connects = new Map<string, number>();
  private connectsWindowStart = 0;
  private readonly connectWindowMs: number;
  private readonly maxConnectsPerWindow: number;

  constructor(
    private readonly access: AccessListService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    this.maxPerIp = config.server.maxConnectionsPerIp;
    this.connectWindowMs = config.server.connectRateWindowMs;
    this.maxConnectsPerWindow = config.server.maxConnectsPerIpPerWindow;
  }

  onAccept(remoteAddress: string): string | null {
    const now = Date.now();
    if (!this.access.isIpAllowed(remoteAddress, now)) return 'ip-denied';
    if (now - this.connectsWindowStart >= this.connectWindowMs) {
      this.connectsWindowStart = now;
      this.connects = new Map();
    }
    // Counted before the other checks: a flood of refused connects still counts.
    const attempts = (this.connects.get(remoteAddress) ?? 0) + 1;
    this.connects.set(remoteAddress, attempts);
    if (attempts > this.maxConnectsPerWindow) return 'connect-rate';
    const n = this.perIp.get(remoteAddress) ?? 0;
    if (n >= this.maxPerIp) return 'too-many-connections';
    this.perIp.set(remoteAddress, n + 1);
    return null;
  }

  onClose(conn: LonglinkConnection): void {
    const n = this.perIp.get(conn.remoteAddress) ?? 0;
    if (n <= 1) this.perIp.delete(conn.remoteAddress);
    else this.perIp.set(conn.remoteAddress, n - 1);
  }

  connectionsFrom(address: string): number {
    return this.perIp.get(address) ?? 0;
  }
}
