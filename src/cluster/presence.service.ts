import { Injectable } from '@nestjs/common';
import { NodeMessage } from './cluster.messages.js';
import { ClusterRedisService } from './cluster-redis.service.js';
import { LuaScript } from './lua-script.js';
import { CLAIM, LOCATE, RELEASE, RESTORE } from './presence.scripts.js';

/** How long a released presence hash (holding only the epoch) lives on. */
const RELEASED_TTL_MS = 24 * 3600 * 1000;

const claim = new LuaScript(CLAIM);
const release = new LuaScript(RELEASE);
const restore = new LuaScript(RESTORE);
const locate = new LuaScript(LOCATE);

/** The cluster's presence directory: uid → (node, connection, epoch), in Redis. */
@Injectable()
export class PresenceService {
  constructor(private readonly redis: ClusterRedisService) {}

  /** Makes this node the user's owner; returns its epoch and the node that owned it before, if any. */
  async claim(uid: string, connId: number): Promise<{ epoch: number; previous: string | null }> {
    const [epoch, previous] = (await claim.run(
      this.redis.command,
      [this.redis.keys.presence(uid)],
      [this.redis.nodeId, connId],
    )) as [number, string | null];
    return { epoch: Number(epoch), previous: previous || null };
  }

  /** Gives the user up if this node still owns it at `epoch`. */
  async release(uid: string, epoch: number): Promise<void> {
    await release.run(
      this.redis.command,
      [this.redis.keys.presence(uid)],
      [this.redis.nodeId, epoch, RELEASED_TTL_MS],
    );
  }

  /** Re-registers a live session after an outage; false when a newer session elsewhere owns the user. */
  async restore(uid: string, connId: number, epoch: number): Promise<boolean> {
    const ok = await restore.run(
      this.redis.command,
      [this.redis.keys.presence(uid)],
      [this.redis.nodeId, connId, epoch],
    );
    return Number(ok) === 1;
  }

  /**
   * Tells the live node holding `uid`, if it is another node, `message`. Fire and
   * forget: with Redis down it is as if the user were offline (messages wait in
   * the store, and nodes catch up when Redis is back).
   */
  async tellOwner(uid: string, message: NodeMessage): Promise<void> {
    try {
      const node = await this.locate(uid);
      if (node !== null && node !== this.redis.nodeId) await this.redis.tell(node, message);
    } catch {
      // Redis unreachable: nothing to do.
    }
  }

  /** The live node holding `uid`, or null (offline, or its node is dead). */
  async locate(uid: string): Promise<string | null> {
    const node = await locate.run(
      this.redis.command,
      [this.redis.keys.presence(uid)],
      [this.redis.keys.nodePrefix],
    );
    return typeof node === 'string' ? node : null;
  }
}
