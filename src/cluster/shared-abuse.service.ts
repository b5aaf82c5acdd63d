import { Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { AccessListService } from '../guards/access-list.service.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { BanMessage } from './cluster.messages.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { LuaScript } from './lua-script.js';

/** Counts a strike and reports whether it is the limit-th in the window (the window starts at the first). */
const strike = new LuaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return 1 end
return 0
`);

/**
 * Abuse state shared by the nodes: IP bans (failed logins, floods) are kept in
 * Redis and announced to every node, which refuses the address at accept from
 * its own copy (no round trip per connection); failed-login and flood-kick
 * counts are kept in Redis too, so an attacker spread over several nodes is
 * counted as one.
 */
@Injectable()
export class SharedAbuseService implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger('SharedAbuse');

  constructor(
    private readonly redis: ClusterRedisService,
    private readonly access: AccessListService,
    private readonly server: LonglinkServer,
  ) {}

  onModuleInit(): void {
    if (!this.redis.enabled) return;
    this.access.onBan((address, untilMs) => void this.announce(address, untilMs));
    this.redis.onBan((m) => this.receive(m));
    this.access.useSharedStrikes(async (kind, address, limit, windowMs) => {
      const hit = await strike.run(
        this.redis.command,
        [this.redis.keys.strikes(kind, address)],
        [limit, windowMs],
      );
      return Number(hit) === 1;
    });
    this.redis.onReconnect(() => void this.loadBans());
  }

  /** After every module's init: Redis is connected by then. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.redis.enabled) await this.loadBans();
  }

  private async announce(address: string, untilMs: number): Promise<void> {
    const ttl = untilMs - Date.now();
    if (ttl <= 0) return;
    const message: BanMessage = { address, untilMs, node: this.redis.nodeId };
    try {
      await this.redis.command.set(this.redis.keys.ban(address), String(untilMs), 'PX', ttl);
      await this.redis.publish(this.redis.keys.bans, JSON.stringify(message));
    } catch (err) {
      this.logger.warn(`ban of ${address} not shared: ${String(err)}`);
    }
  }

  private receive(m: BanMessage): void {
    if (m.node === this.redis.nodeId || typeof m.address !== 'string') return;
    this.apply(m.address, Number(m.untilMs));
  }

  /** A ban made elsewhere: refuse at accept, and close the address's connections not logged in. */
  private apply(address: string, untilMs: number): void {
    if (!(untilMs > Date.now()) || this.access.isBanned(address)) return;
    this.access.ban(address, untilMs, false);
    this.server.forEachConnection((conn) => {
      if (conn.remoteAddress === address && !conn.user && conn.isOpen) {
        conn.failAndClose(0, ErrorCode.IpBanned, 'this address is banned');
      }
    });
  }

  /** Bans made while this node was away (or before it started). */
  private async loadBans(): Promise<void> {
    const pattern = `${this.redis.keys.ban('')}*`;
    const prefix = this.redis.keys.ban('');
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.command.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        if (keys.length === 0) continue;
        const values = await this.redis.command.mget(...keys);
        keys.forEach((key, i) => {
          if (values[i] !== null) this.apply(key.slice(prefix.length), Number(values[i]));
        });
      } while (cursor !== '0');
    } catch (err) {
      this.logger.warn(`loading shared bans failed: ${String(err)}`);
    }
  }
}
