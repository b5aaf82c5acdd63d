import { Inject, Injectable } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { TransportHooks } from '../transport/transport-hooks.js';
import { AccessListService } from './access-list.service.js';

/** At accept, before any byte is read: IP black/white lists and the per-IP connection cap. */
@Injectable()
export class ConnectionAccessHook implements TransportHooks {
  private readonly perIp = new Map<string, number>();
  private readonly maxPerIp: number;

  constructor(
    private readonly access: AccessListService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    this.maxPerIp = config.server.maxConnectionsPerIp;
  }

  onAccept(remoteAddress: string): string | null {
    if (!this.access.isIpAllowed(remoteAddress)) return 'ip-denied';
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
