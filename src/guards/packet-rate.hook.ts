import { Inject, Injectable } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { Op } from '../transport/ops.js';
import { TransportHooks } from '../transport/transport-hooks.js';

const RATE_LIMITED_BODY = JSON.stringify({
  code: ErrorCode.RateLimited,
  message: 'too many packets; slow down',
});

/**
 * Packets per connection per window (the seed's packetsRecv, reset every
 * rateStatInterval). It runs in the transport, before parsing, because every
 * frame counts: frames no handler claims and frames a flood would make Nest
 * parse. Over maxPackets: ERROR rate-limited; over kickPackets: KICK and close.
 */
@Injectable()
export class PacketRateHook implements TransportHooks {
  private readonly intervalMs: number;
  private readonly maxPackets: number;
  private readonly kickPackets: number;

  constructor(@Inject(LONGLINK_CONFIG) config: LonglinkConfig) {
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
    if (n > this.kickPackets) conn.kick(KickReason.RateLimited, 'packet rate far over the limit');
    else conn.send(Op.ERROR, seq, RATE_LIMITED_BODY);
    return false;
  }
}
