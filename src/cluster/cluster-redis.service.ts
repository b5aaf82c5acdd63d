import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { ConfigError } from '../config/config.error.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { redactUrl } from '../config/redact-url.js';
import { BanMessage, NodeMessage } from './cluster.messages.js';
import { RedisKeys } from './redis-keys.js';

type Handler<T> = (message: T) => void;

/**
 * This node's link to Redis: a command connection and a subscriber connection,
 * its node id and liveness key, and the two channels it listens on (its own
 * inbox, and bans). Commands fail fast while Redis is down (no offline queue):
 * callers treat Redis as a hint and keep serving; after a reconnect the
 * `reconnected` listeners re-register what Redis may have lost.
 */
@Injectable()
export class ClusterRedisService implements OnModuleInit, OnApplicationShutdown {
  /** Cluster mode is on: cluster.redis.url is set. Otherwise nothing here connects or runs. */
  readonly enabled: boolean;
  readonly nodeId: string;
  readonly keys: RedisKeys;
  /** The command link (cluster mode only, like the subscriber). */
  readonly command: Redis;
  private readonly subscriber: Redis;
  private readonly logger = new Logger('Cluster');
  private readonly inboxHandlers: Handler<NodeMessage>[] = [];
  private readonly banHandlers: Handler<BanMessage>[] = [];
  private readonly reconnectHandlers: (() => void)[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private wasReady = false;
  private lost = false;
  private closing = false;

  constructor(@Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig) {
    const { nodeId, redis } = config.cluster;
    this.enabled = redis.url !== null;
    this.nodeId = nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.keys = new RedisKeys(redis.keyPrefix);
    // Without a URL (cluster mode off) no client exists: nothing here is ever called then.
    if (redis.url === null) return;
    const options = {
      lazyConnect: true,
      connectTimeout: redis.connectTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    };
    this.command = new Redis(redis.url, options);
    this.subscriber = new Redis(redis.url, { ...options, enableOfflineQueue: true });
    for (const client of [this.command, this.subscriber]) {
      // Errors surface on each command; the connection retries by itself.
      client.on('error', () => undefined);
    }
    this.command.on('close', () => {
      if (this.wasReady && !this.closing && !this.lost) {
        this.lost = true;
        this.logger.warn('lost Redis; serving on, delivery across nodes waits for it');
      }
    });
    this.command.on('ready', () => {
      if (!this.lost) return;
      this.lost = false;
      this.logger.log('Redis is back: re-registering this node and its sessions');
      void this.beat();
      for (const fn of this.reconnectHandlers) fn();
    });
    this.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) =>
      this.dispatch(channel.toString(), payload.toString()),
    );
  }

  /** Connects both links, subscribes, starts the liveness heartbeat; a startup error names the key. */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    try {
      await Promise.all([this.command.connect(), this.subscriber.connect()]);
      await this.subscriber.subscribe(this.keys.inbox(this.nodeId), this.keys.bans);
      await this.beat();
    } catch (err) {
      this.command.disconnect();
      this.subscriber.disconnect();
      throw new ConfigError(
        'cluster.redis.url',
        `cannot reach Redis at ${redactUrl(this.config.cluster.redis.url!)} (${(err as Error).message})`,
      );
    }
    this.wasReady = true;
    this.heartbeat = setInterval(() => void this.beat(), this.config.cluster.nodeHeartbeatMs);
    this.heartbeat.unref();
    this.logger.log(`cluster node ${this.nodeId}`);
  }

  onInbox(handler: Handler<NodeMessage>): void {
    this.inboxHandlers.push(handler);
  }

  onBan(handler: Handler<BanMessage>): void {
    this.banHandlers.push(handler);
  }

  /** Runs after Redis came back from an outage (not at the first connect). */
  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  /** Sends `message` to `nodeId`'s channel; false when Redis is unreachable. */
  async tell(nodeId: string, message: NodeMessage): Promise<boolean> {
    return this.publish(this.keys.inbox(nodeId), JSON.stringify(message));
  }

  async publish(channel: string, payload: string): Promise<boolean> {
    try {
      await this.command.publish(channel, payload);
      return true;
    } catch {
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.enabled) return;
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    // Leave at once rather than when the TTL runs out: nothing is routed here any more.
    await this.command.del(this.keys.node(this.nodeId)).catch(() => undefined);
    this.subscriber.disconnect();
    await this.command.quit().catch(() => this.command.disconnect());
  }

  /** Refreshes this node's liveness key. */
  private async beat(): Promise<void> {
    const { nodeTtlMs } = this.config.cluster;
    await this.command
      .set(this.keys.node(this.nodeId), String(Date.now()), 'PX', nodeTtlMs)
      .catch((err: unknown) => {
        if (!this.wasReady) throw err;
      });
  }

  private dispatch(channel: string, payload: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      this.logger.warn(`unreadable message on ${channel}`);
      return;
    }
    const handlers: Handler<never>[] =
      channel === this.keys.bans ? this.banHandlers : this.inboxHandlers;
    for (const handler of handlers) {
      try {
        (handler as Handler<unknown>)(parsed);
      } catch (err) {
        this.logger.error(`handling a message on ${channel} failed: ${String(err)}`);
      }
    }
  }
}
