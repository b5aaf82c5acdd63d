import { Inject, Injectable } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode } from '../transport/error-codes.js';
import { TransportHooks } from '../transport/transport-hooks.js';
import { FloodKickService } from './flood-kick.service.js';

/** The ERROR body up to retryAfterMs: built per refusal as a string, no object per frame. */
const RATE_LIMITED_HEAD = `{"code":"${ErrorCode.RateLimited}","message":"too many packets; slow down","retryAfterMs":`;

/**
 * Packets per connection per window (the seed's packetsRecv, reset every
 * rateStatInterval). It runs in the transport, before parsing, because every
 * frame counts: frames no handler claims and frames a flood would make Nest
 * parse. Over maxPackets: ERROR rate-limited; over kickPackets: KICK and close
 * (and the kick counts against the IP, see FloodKickService).
 */
@Injectable()
export class PacketRateHook implements TransportHooks {
  private readonly intervalMs: number;
  private readonly maxPackets: number;
  private readonly kickPackets: number;

  constructor(
    private readonly kicker: FloodKickService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    ({
      intervalMs: this.intervalMs,
      maxPackets: this.maxPackets,
      kickPackets: this.kickPackets,
    } = config.rateLimit);
  }

  onFrame(conn: LonglinkConnection, _op: number, seq: number, now: number): boolean {
    if (now - conn.packetsWindowStart >= this.intervalMs) {
      conn.packetsWindowStart = now;
      conn.packets = 0;
    }
    const n = ++conn.packets;
    if (n <= this.maxPackets) return true;
    if (n <= this.kickPackets) {
      // The window ends then: a client that waits this long is served again.
      const retryAfterMs = Math.max(1, conn.packetsWindowStart + this.intervalMs - now);
      conn.sendError(seq, ErrorCode.RateLimited, `${RATE_LIMITED_HEAD}${retryAfterMs}}`);
      return false;
    }
    this.kicker.kick(conn, 'packet rate far over the limit', now);
    return false;
  }
}
