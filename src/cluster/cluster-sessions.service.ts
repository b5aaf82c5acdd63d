import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Subscription } from 'rxjs';
import { SessionService } from '../session/session.service.js';
import { SessionUser } from '../session/session-user.js';
import { KickReason } from '../transport/error-codes.js';
import { NodeMessage } from './cluster.messages.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { PresenceService } from './presence.service.js';

/** What this node knows of one local session's place in the cluster. */
interface Ownership {
  /** From Redis once the claim is answered; undefined while pending or when Redis was down. */
  epoch: number | undefined;
  /** The highest epoch a relogin elsewhere announced before our claim was answered. */
  supersededBy: number;
}

/**
 * Sessions across nodes. Each login claims the user in Redis (a higher epoch,
 * atomically) and tells the previous owner node to end its session; a node
 * ends a session only when told of a newer epoch than the session's own, so
 * racing logins on several nodes leave exactly one. Logouts release the user
 * if this node still owns it. After a Redis outage every live session is
 * registered again. Push and kick for users elsewhere go to their node.
 */
@Injectable()
export class ClusterSessionsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ClusterSessions');
  private readonly owned = new WeakMap<SessionUser, Ownership>();
  private subscriptions: Subscription[] = [];
  private readonly claimedHandlers: ((user: SessionUser) => void)[] = [];

  constructor(
    private readonly redis: ClusterRedisService,
    private readonly presence: PresenceService,
    private readonly sessions: SessionService,
  ) {}

  onModuleInit(): void {
    if (!this.redis.enabled) return;
    this.subscriptions = [
      this.sessions.logins$.subscribe(({ user }) => void this.claim(user)),
      this.sessions.logouts$.subscribe(({ user }) => void this.release(user)),
    ];
    this.redis.onInbox((m) => this.receive(m));
    this.redis.onReconnect(() => void this.restoreAll());
    this.sessions.useForwarder({
      push: (uid, op, body) => void this.presence.tellOwner(uid, { t: 'push', uid, op, body }),
      kick: (uid, reason, message) =>
        void this.presence.tellOwner(uid, { t: 'kick', uid, reason, message }),
    });
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /** Runs once Redis made `user` the owner: from then on other nodes route to this one. */
  onClaimed(handler: (user: SessionUser) => void): void {
    this.claimedHandlers.push(handler);
  }

  /** The cluster epoch of a local session (undefined until Redis answered its claim). */
  epochOf(user: SessionUser): number | undefined {
    return this.owned.get(user)?.epoch;
  }

  private async claim(user: SessionUser): Promise<void> {
    const own: Ownership = { epoch: undefined, supersededBy: 0 };
    this.owned.set(user, own);
    let result: { epoch: number; previous: string | null };
    try {
      result = await this.presence.claim(user.uid, user.conn.id);
    } catch (err) {
      // Redis is down: the session works here, and is registered when Redis is back.
      this.logger.warn(`presence of ${user.uid} not registered: ${String(err)}`);
      return;
    }
    own.epoch = result.epoch;
    if (own.supersededBy > result.epoch) return this.endStale(user);
    if (!this.isCurrent(user)) {
      // Ended while the claim was on its way: give the user up again.
      void this.presence.release(user.uid, result.epoch).catch(() => undefined);
      return;
    }
    for (const fn of this.claimedHandlers) fn(user);
    const { previous } = result;
    if (previous !== null && previous !== this.redis.nodeId) {
      const message = 'logged in from another connection';
      const kick: NodeMessage = {
        t: 'kick',
        uid: user.uid,
        epoch: result.epoch,
        reason: KickReason.Relogin,
        message,
      };
      void this.redis.tell(previous, kick);
    }
  }

  private async release(user: SessionUser): Promise<void> {
    const epoch = this.owned.get(user)?.epoch;
    if (epoch === undefined) return; // a pending claim releases itself when answered
    await this.presence.release(user.uid, epoch).catch(() => undefined);
  }

  private receive(m: NodeMessage): void {
    if (m.t === 'push') {
      this.sessions.getUser(m.uid)?.conn.send(m.op, 0, m.body);
      return;
    }
    if (m.t !== 'kick') return;
    const user = this.sessions.getUser(m.uid);
    if (!user) return;
    if (m.epoch === undefined) {
      this.sessions.kick(m.uid, m.reason, m.message);
      return;
    }
    const own = this.owned.get(user);
    if (own === undefined || own.epoch === undefined) {
      // Our claim's answer has not come yet (another connection to Redis): decide then.
      if (own) own.supersededBy = Math.max(own.supersededBy, m.epoch);
      return;
    }
    if (own.epoch < m.epoch) this.sessions.kick(m.uid, m.reason, m.message);
  }

  /** A newer session exists elsewhere. */
  private endStale(user: SessionUser): void {
    if (this.isCurrent(user)) {
      this.sessions.kick(user.uid, KickReason.Relogin, 'logged in from another connection');
    }
  }

  private isCurrent(user: SessionUser): boolean {
    return this.sessions.getUser(user.uid) === user && user.conn.isOpen;
  }

  /** After an outage: re-register every live session (claim those Redis never heard of). */
  private async restoreAll(): Promise<void> {
    let restored = 0;
    for (const uid of [...this.sessions.onlineUids()]) {
      const user = this.sessions.getUser(uid);
      if (!user) continue;
      const own = this.owned.get(user);
      try {
        if (own?.epoch === undefined) {
          await this.claim(user);
        } else if (!(await this.presence.restore(uid, user.conn.id, own.epoch))) {
          this.endStale(user);
          continue;
        }
        restored++;
      } catch (err) {
        this.logger.warn(`re-registering ${uid} failed: ${String(err)}`);
      }
    }
    this.logger.log(`re-registered ${restored} sessions`);
  }
}
