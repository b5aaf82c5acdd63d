import { ListenerKind } from '../transport/connection-stream.js';

/** One connection of a user, as GET /admin/users/:uid shows it. */
export interface AdminConnectionView {
  address: string;
  port: number;
  listener: ListenerKind;
  /** ISO 8601. */
  loginAt: string;
  /** This node's id (cluster mode). */
  node?: string;
}

/** GET /admin/users/:uid: 200 for any uid, online or not, seen or not. */
export interface AdminUserView {
  uid: string;
  /** Logged in here, or (cluster mode) on any live node. */
  online: boolean;
  /** Cluster mode: the live node holding the user, or null. */
  node?: string | null;
  /** Cluster mode, Redis unreachable: `node` is unknown. */
  presence?: 'unavailable';
  /** The user's connections on this node (at most one: a newer login kicks the older). */
  connections: AdminConnectionView[];
  /** Newest seq of the inbox and the highest seq the user acknowledged (0 when none). */
  inbox: { lastSeq: number; ackedSeq: number };
}

/** GET /admin/stats: this node's counters since it started. */
export interface AdminStatsView {
  /** Cluster mode. */
  nodeId?: string;
  uptimeSeconds: number;
  connections: Record<ListenerKind, number>;
  users: number;
  logins: { ok: number; failed: number };
  framesIn: number;
  framesOut: number;
  messages: {
    stored: number;
    pushed: number;
    retransmitted: number;
    acked: number;
    unacked: number;
  };
  store: string;
  draining: boolean;
}
