import { Inject, Injectable } from '@nestjs/common';
import { BlockList, isIP } from 'node:net';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig, toBlockList } from '../config/longlink-config.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

type AccessConfig = LonglinkConfig['access'];

/**
 * Strikes counted across nodes (cluster mode): resolves true when this strike
 * is the limit-th of the address within the window, counting every node's.
 */
export type SharedStrikes = (
  kind: string,
  address: string,
  limit: number,
  windowMs: number,
) => Promise<boolean>;

/** Black and white lists of IPs (CIDR) and user ids. An empty whitelist admits everyone. */
@Injectable()
export class AccessListService {
  /** null when empty: BlockList.check builds a SocketAddress per call (~3 µs per accept). */
  private ipBlack: BlockList | null;
  private ipWhite: BlockList | null;
  private userBlack: Set<string>;
  private userWhite: Set<string> | null;
  /** Temporary IP bans (failed logins): address → until (ms since epoch). */
  private readonly bans = new Map<string, number>();
  private readonly banListeners: ((address: string, untilMs: number) => void)[] = [];
  private sharedStrikes: SharedStrikes | null = null;

  constructor(@Inject(LONGLINK_CONFIG) config: LonglinkConfig) {
    this.load(config.access);
  }

  /** Replaces the lists (config reload). */
  load(access: AccessConfig): void {
    this.ipBlack = access.ipBlacklist.length ? toBlockList(access.ipBlacklist) : null;
    this.ipWhite = access.ipWhitelist.length ? toBlockList(access.ipWhitelist) : null;
    this.userBlack = new Set(access.userBlacklist);
    this.userWhite = access.userWhitelist.length ? new Set(access.userWhitelist) : null;
  }

  isIpAllowed(address: string, now = Date.now()): boolean {
    const until = this.bans.get(address);
    if (until !== undefined) {
      if (until > now) return false;
      this.bans.delete(address);
    }
    if (this.ipBlack === null && this.ipWhite === null) return true;
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (this.ipBlack?.check(address, family)) return false;
    return this.ipWhite === null || this.ipWhite.check(address, family);
  }

  /** Refuses `address` at accept until `untilMs`; `announce` tells the ban listeners (other nodes). */
  ban(address: string, untilMs: number, announce = true): void {
    if ((this.bans.get(address) ?? 0) >= untilMs) return;
    this.bans.set(address, untilMs);
    if (announce) for (const fn of this.banListeners) fn(address, untilMs);
  }

  /** Cluster mode: bans made here are announced to the other nodes. */
  onBan(listener: (address: string, untilMs: number) => void): void {
    this.banListeners.push(listener);
  }

  /** Cluster mode: strikes are also counted across nodes. */
  useSharedStrikes(strikes: SharedStrikes): void {
    this.sharedStrikes = strikes;
  }

  /**
   * Counts a strike of `address` across nodes too (when in cluster mode), and
   * calls `reached` if that makes it the limit-th: a guesser or flooder that
   * spreads itself over several nodes is banned as one on a single node would be.
   */
  shareStrike(
    kind: string,
    address: string,
    limit: number,
    windowMs: number,
    reached: () => void,
  ): void {
    this.sharedStrikes?.(kind, address, limit, windowMs).then(
      (hit) => hit && reached(),
      () => undefined,
    );
  }

  isBanned(address: string, now = Date.now()): boolean {
    return (this.bans.get(address) ?? 0) > now;
  }

  isUserAllowed(uid: string): boolean {
    if (this.userBlack.has(uid)) return false;
    return this.userWhite === null || this.userWhite.has(uid);
  }

  /** Throws access-denied (and the connection closes) for a listed or unlisted user. */
  assertUserAllowed(uid: string): void {
    if (!this.isUserAllowed(uid)) {
      throw new LonglinkException(ErrorCode.AccessDenied, `user ${uid} may not log in`, true);
    }
  }
}
