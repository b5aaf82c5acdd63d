import { Inject, Injectable, Logger } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkConnection } from '../transport/connection.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { ErrorCode } from '../transport/error-codes.js';
import { AccessListService } from './access-list.service.js';
import { StrikeCounter } from './strike-counter.js';

/**
 * Counts failed logins per IP; past maxFailedLogins within failedLoginWindowMs
 * the IP is banned for failedLoginBanMs (refused at accept), which makes token
 * guessing slow and visible.
 */
@Injectable()
export class LoginThrottleService {
  private readonly logger = new Logger('LoginThrottle');
  private readonly failures: StrikeCounter;

  constructor(
    private readonly access: AccessListService,
    private readonly server: LonglinkServer,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {
    this.failures = new StrikeCounter(config.auth.maxFailedLogins, config.auth.failedLoginWindowMs);
  }

  isBanned(address: string): boolean {
    return this.access.isBanned(address);
  }

  /**
   * Records a failed login on `conn`; true when its address is now banned (the
   * caller answers `conn` itself; other not-logged-in connections of the address are closed).
   */
  recordFailure(conn: LonglinkConnection, now = Date.now()): boolean {
    const address = conn.remoteAddress;
    const { maxFailedLogins, failedLoginWindowMs } = this.config.auth;
    if (!this.failures.record(address, now)) {
      this.access.shareStrike('login', address, maxFailedLogins, failedLoginWindowMs, () =>
        this.banAddress(conn, Date.now()),
      );
      return false;
    }
    this.banAddress(conn, now);
    return true;
  }

  /** Bans the address of `conn` and closes its other connections that are not logged in. */
  private banAddress(conn: LonglinkConnection, now: number): void {
    const address = conn.remoteAddress;
    const { maxFailedLogins, failedLoginBanMs } = this.config.auth;
    this.access.ban(address, now + failedLoginBanMs);
    // Connections opened before the ban would otherwise keep guessing: close the ones not logged in.
    this.server.forEachConnection((other) => {
      if (other !== conn && other.remoteAddress === address && !other.user && other.isOpen) {
        other.failAndClose(0, ErrorCode.IpBanned, 'too many failed logins from this address');
      }
    });
    this.logger.warn(
      `banned ${address} for ${failedLoginBanMs} ms after ${maxFailedLogins} failed logins`,
    );
  }
}
