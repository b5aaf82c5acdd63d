import { Inject, Injectable, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { AuthService } from '../auth/auth.service.js';
import { ClusterRedisService } from '../cluster/cluster-redis.service.js';
import { PresenceService } from '../cluster/presence.service.js';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { DeliveryService } from '../messaging/delivery.service.js';
import { MESSAGE_STORE, MessageStore } from '../messaging/message.store.js';
import { MessagingService } from '../messaging/messaging.service.js';
import { toStoreUnavailable } from '../messaging/store-failure.js';
import { SessionService } from '../session/session.service.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { adminBadRequest } from './admin-bad-request.js';
import { KickDto } from './admin-kick.dto.js';
import { AdminMessageDto } from './admin-message.dto.js';
import { AdminStatsView, AdminUserView } from './admin.views.js';
import { connectionsByListener } from './metrics-connections.js';

/** Room left in a frame for the MSG push's own fields (msgId, seq, from, ts) around content. */
const PUSH_OVERHEAD_BYTES = 1024;

function sum(counts: ReadonlyMap<unknown, number>): number {
  let total = 0;
  for (const n of counts.values()) total += n;
  return total;
}

/**
 * A store failure (or the ERROR it became) as 503 store-unavailable; the cause is
 * logged, not sent, as for the PDUs. Anything else passes through.
 */
function fromStore(err: unknown, what: string): unknown {
  const mapped = toStoreUnavailable(err, what);
  if (!(mapped instanceof LonglinkException) || mapped.code !== ErrorCode.StoreUnavailable) {
    return mapped;
  }
  return new ServiceUnavailableException({
    statusCode: 503,
    error: ErrorCode.StoreUnavailable,
    message: 'the message store is unavailable; retry later',
  });
}

/**
 * What the admin API does, through the same services the PDUs use: sessions
 * (kick works across nodes), messaging (a system message is stored and pushed
 * like a SEND), the store's cursors, and presence in cluster mode.
 */
@Injectable()
export class AdminService implements OnModuleInit {
  private readonly startedAt = Date.now();
  private cluster: ClusterRedisService;
  private presence: PresenceService;
  private auth: AuthService;

  constructor(
    private readonly server: LonglinkServer,
    private readonly sessions: SessionService,
    private readonly messaging: MessagingService,
    private readonly delivery: DeliveryService,
    @Inject(MESSAGE_STORE) private readonly store: MessageStore,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
    private readonly moduleRef: ModuleRef,
  ) {}

  onModuleInit(): void {
    // Internal to LonglinkModule (not exported to the HTTP module): looked up.
    this.cluster = this.moduleRef.get(ClusterRedisService, { strict: false });
    this.presence = this.moduleRef.get(PresenceService, { strict: false });
    this.auth = this.moduleRef.get(AuthService, { strict: false });
  }

  async user(uid: string): Promise<AdminUserView> {
    const user = this.sessions.getUser(uid);
    const node = this.cluster.enabled ? this.cluster.nodeId : undefined;
    const [lastSeq, ackedSeq, holder] = await Promise.all([
      this.store.lastSeq(uid),
      this.store.ackedSeq(uid),
      this.locate(uid),
    ]).catch((err: unknown) => {
      throw fromStore(err, `admin lookup of ${uid}`);
    });
    const connections = user
      ? [
          {
            address: user.conn.remoteAddress,
            port: user.conn.remotePort,
            listener: user.conn.listener,
            loginAt: new Date(user.loginAt).toISOString(),
            ...(node === undefined ? {} : { node }),
          },
        ]
      : [];
    const view: AdminUserView = {
      uid,
      online: user !== undefined || typeof holder?.node === 'string',
      connections,
      inbox: { lastSeq, ackedSeq },
    };
    if (holder === undefined) return view;
    // A session here is the truth for this node, whatever Redis says yet.
    view.node = user ? node : (holder.node ?? null);
    if (holder.node === undefined) view.presence = 'unavailable';
    return view;
  }

  /** KICK through SessionService: here, or forwarded to the node holding the user. */
  async kick(uid: string, body: KickDto): Promise<{ kicked: boolean; node?: string }> {
    const reason = body.reason ?? KickReason.Admin;
    const message = body.message ?? 'kicked by an operator';
    if (this.sessions.kick(uid, reason, message)) return { kicked: true };
    const holder = await this.locate(uid);
    // Forwarded by SessionService already; this only tells the operator whether anyone was there.
    if (typeof holder?.node === 'string') return { kicked: true, node: holder.node };
    return { kicked: false };
  }

  /** Stores and delivers a message as a SEND from `from` would be: durable, with an inbox seq. */
  async send(
    body: AdminMessageDto,
  ): Promise<{ msgId: string; seq: number; ts: number; duplicate: boolean }> {
    const content = JSON.stringify(body.content);
    const limit = this.config.server.maxFrameBytes - PUSH_OVERHEAD_BYTES;
    if (Buffer.byteLength(content) > limit) {
      throw adminBadRequest('content', `must be at most ${limit} bytes as JSON`);
    }
    try {
      const { message, duplicate } = await this.messaging.send({
        from: body.from,
        to: body.to,
        clientMsgId: body.clientMsgId ?? `admin-${randomUUID()}`,
        content,
      });
      return { msgId: message.msgId, seq: message.seq, ts: message.ts, duplicate };
    } catch (err) {
      if (err instanceof LonglinkException && err.code === ErrorCode.UnknownRecipient) {
        throw adminBadRequest('to', err.message);
      }
      throw fromStore(err, 'admin message');
    }
  }

  stats(): AdminStatsView {
    const { stats } = this.server;
    const logins = this.auth.loginResults;
    const ok = logins.get('ok') ?? 0;
    const { counts: delivered } = this.delivery;
    return {
      ...(this.cluster.enabled ? { nodeId: this.cluster.nodeId } : {}),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      connections: connectionsByListener(this.server),
      users: this.sessions.count(),
      logins: { ok, failed: sum(logins) - ok },
      framesIn: sum(stats.framesIn),
      framesOut: sum(stats.framesOut),
      messages: {
        stored: this.messaging.counts.stored,
        pushed: delivered.pushed,
        retransmitted: delivered.retransmitted,
        acked: delivered.acked,
        unacked: this.delivery.inflightTotal(),
      },
      store: this.config.messaging.store,
      draining: this.server.isDraining,
    };
  }

  /**
   * Cluster mode: `node` is the live node holding `uid` (null: none), undefined when
   * Redis cannot be reached. Outside cluster mode: undefined.
   */
  private async locate(uid: string): Promise<{ node?: string | null } | undefined> {
    if (!this.cluster.enabled) return undefined;
    try {
      return { node: await this.presence.locate(uid) };
    } catch {
      return {};
    }
  }
}
