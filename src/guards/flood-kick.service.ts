import { Inject, Injectable, Logger } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { KickReason } from '../transport/error-codes.js';
import { AccessListService } from './access-list.service.js';
import { StrikeCounter } from './strike-counter.js';

/**
 * Kicks a connection far over a rate limit (the frame window or a token bucket)
 * and counts the kick against its IP: maxKicksPerIp kicks within kickWindowMs
 * (on any node, in cluster mode) ban the IP for kickBanMs, so a flooder cannot
 * reconnect for a fresh budget over and over.
 */
@Injectable()
export class FloodKickService {
  private readonly kicks: StrikeCounter;
  private readonly maxKicksPerIp: number;
  private readonly kickWindowMs: number;
  private readonly kickBanMs: number;
  private readonly logger = new Logger('PacketRate');

  constructor(
    private readonly access: AccessListService,
    @Inject(LONGLINK_CONFIG) config: LonglinkConfig,
  ) {
    ({
      maxKicksPerIp: this.maxKicksPerIp,
      kickWindowMs: this.kickWindowMs,
      kickBanMs: this.kickBanMs,
    } = config.rateLimit);
    this.kicks = new StrikeCounter(this.maxKicksPerIp, this.kickWindowMs);
  }

  kick(conn: LonglinkConnection, detail: string, now: number): void {
    // Frames after the kick in the same read arrive here too: count the connection once.
    if (!conn.isOpen) return;
    conn.kick(KickReason.RateLimited, detail);
    const address = conn.remoteAddress;
    if (this.kicks.record(address, now)) return this.ban(address, now);
    this.access.shareStrike('kick', address, this.maxKicksPerIp, this.kickWindowMs, () =>
      this.ban(address, Date.now()),
    );
  }

  private ban(address: string, now: number): void {
    this.access.ban(address, now + this.kickBanMs);
    this.logger.warn(`banned ${address} for ${this.kickBanMs} ms after repeated floods`);
  }
}
