import { Inject, Injectable, Logger } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { TransportHooks } from '../transport/transport-hooks.js';
import { AccessListService } from './access-list.service.js';
import { StrikeCounter } from './strike-counter.js';

/** The ERROR body up to retryAfterMs: built per refusal as a string, no object per frame. */
const RATE_LIMITED_HEAD = `{"code":"${ErrorCode.RateLimited}","message":"too many packets; slow down","retryAfterMs":`;

/**
 * Packets per connection per window (the seed's packetsRecv, reset every
 * rateStatInterval). It runs in the transport, before parsing, because every
 * frame counts: frames no handler claims and frames a flood would make Nest
 * parse. Over maxPackets: ERROR rate-limited; over kickPackets: KICK and close.
 * An IP whose connections are kicked maxKicksPerIp times within kickWindowMs is
 * banned for kickBanMs: the budget is per connection, and a flooder reconnecting
 * for a fresh one got ~400 frames handled per connect.
 */
@Injectable()
export class PacketRateHook implements TransportHooks {
  private readonly intervalMs: number;
  private readonly maxPackets: number;
  private readonly kickPackets: number;
  private readonly kickBanMs: number;
  private readonly maxKicksPerIp: number;
  private readonly kickWindowMs: number;
  private readonly kicks: StrikeCounter;
  private readonly logger = new Logger('PacketRate');

  constructor(
    private readonly access: AccessListService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    ({
      intervalMs: this.intervalMs,
      maxPackets: this.maxPackets,
      kickPackets: this.kickPackets,
      kickBanMs: this.kickBanMs,
      maxKicksPerIp: this.maxKicksPerIp,
      kickWindowMs: this.kickWindowMs,
    } = config.rateLimit);
    this.kicks = new StrikeCounter(config.rateLimit.maxKicksPerIp, config.rateLimit.kickWindowMs);
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
    // Frames after the kick in the same read land here too: count the connection once.
    if (!conn.isOpen) return false;
    conn.kick(KickReason.RateLimited, 'packet rate far over the limit');
    if (this.kicks.record(conn.remoteAddress, now)) this.banFlooder(conn.remoteAddress, now);
    else {
      this.access.shareStrike(
        'kick',
        conn.remoteAddress,
        this.maxKicksPerIp,
        this.kickWindowMs,
        () => this.banFlooder(conn.remoteAddress, Date.now()),
      );
    }
    return false;
  }

  private banFlooder(address: string, now: number): void {
    this.access.ban(address, now + this.kickBanMs);
    this.logger.warn(`banned ${address} for ${this.kickBanMs} ms after repeated floods`);
  }
}
