/** Every key and channel of one cluster, under its prefix (cluster.redis.keyPrefix). */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  /** A node's liveness key, refreshed by the node, expiring when it dies. */
  node(nodeId: string): string {
    return `${this.prefix}node:${nodeId}`;
  }

  /** Prefix of the liveness keys (the presence scripts append a node id). */
  get nodePrefix(): string {
    return `${this.prefix}node:`;
  }

  /** uid → hash {node, conn, epoch}. */
  presence(uid: string): string {
    return `${this.prefix}presence:${uid}`;
  }

  /** The channel a node listens on for messages addressed to it. */
  inbox(nodeId: string): string {
    return `${this.prefix}to:${nodeId}`;
  }

  /** Where bans are announced to every node. */
  get bans(): string {
    return `${this.prefix}bans`;
  }

  /** A ban of one address, expiring with it. */
  ban(address: string): string {
    return `${this.prefix}ban:${address}`;
  }

  /** Strikes (failed logins, rate-limit kicks) of one address in the current window. */
  strikes(kind: string, address: string): string {
    return `${this.prefix}strikes:${kind}:${address}`;
  }

  /** A shared token bucket of a rate rule (rule:kind:id). */
  bucket(key: string): string {
    return `${this.prefix}bucket:${key}`;
  }
}
