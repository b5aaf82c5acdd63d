import { Inject, Injectable, Logger } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { ErrorCode } from '../transport/error-codes.js';
import { AccessListService } from './access-list.service.js';

/**
 * Counts failed logins per IP; past maxFailedLogins within failedLoginWindowMs
 * the IP is banned for failedLoginBanMs (refused at accept), which makes token
 * guessing slow and visible.
 */
@Injectable()
export class LoginThrottleService {
  private readonly logger = new Logger('LoginThrottle');
  private failures = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly access: AccessListService,
    private readonly server: LonglinkServer,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  isBanned(address: string): boolean {
    return this.access.isBanned(address);
  }

  /**
   * Records a failed login on `conn`; true when its address is now banned (the
   * caller answers `conn` itself; other not-logged-in connections of the address are closed).
   */
  recordFailure(conn: LonglinkConnection, now = Date.now()): boolean {
    const address = conn.remoteAddress;
    const { maxFailedLogins, failedLoginWindowMs, failedLoginBanMs } = this.config.auth;
    let entry = this.failures.get(address);
    if (!entry || now - entry.since >= failedLoginWindowMs) {
      entry = { count: 0, since: now };
      this.failures.set(address, entry);
      this.forgetOld(now, failedLoginWindowMs);
    }
    if (++entry.count < maxFailedLogins) return false;
    this.failures.delete(address);
    this.access.ban(address, now + failedLoginBanMs);
    // Connections opened before the ban would otherwise keep guessing: close the ones not logged in.
    this.server.forEachConnection((other) => {
      if (other !== conn && other.remoteAddress === address && !other.user && other.isOpen) {
        other.failAndClose(0, ErrorCode.IpBanned, 'too many failed logins from this address');
      }
    });
    this.logger.warn(
      `banned ${address} for ${failedLoginBanMs} ms after ${entry.count} failed logins`,
    );
    return true;
  }

  /** Drops windows that ended, so an address space scan cannot grow the map without bound. */
  private forgetOld(now: number, windowMs: number): void {
    if (this.failures.size < 1024) return;
    for (const [address, entry] of this.failures) {
      if (now - entry.since >= windowMs) this.failures.delete(address);
    }
  }
}
