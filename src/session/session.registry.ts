import { SessionUser } from './session-user.js';

/** Injection token for the SessionRegistry implementation. */
export const SESSION_REGISTRY = Symbol('SESSION_REGISTRY');

/**
 * Who is online on this node: uid → SessionUser (the user holds its connection,
 * the connection holds its user). Synchronous on purpose: login, kick and close
 * must update it atomically within one event-loop turn, which is what makes
 * racing logins safe. A cross-node presence directory (Redis) will sit beside
 * it, fed by SessionService's login/logout events.
 */
export interface SessionRegistry {
  /** Makes `user` the session of its uid; returns the session it replaced, if any. */
  bind(user: SessionUser): SessionUser | undefined;
  /** Removes `user` only if it is still the current session of its uid. */
  unbind(user: SessionUser): boolean;
  get(uid: string): SessionUser | undefined;
  count(): number;
  uids(): IterableIterator<string>;
}
