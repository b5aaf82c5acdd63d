import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { LonglinkConnection } from '../transport/connection.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { LonglinkServer, describe } from '../transport/longlink.server.js';
import { SESSION_REGISTRY, SessionRegistry } from './session.registry.js';
import { LoginEvent, LogoutEvent } from './session.events.js';
import { SessionUser } from './session-user.js';

/**
 * Reaches users logged in on other nodes (cluster mode): push and kick go to
 * the node that holds the user, if any. Fire and forget, like a local push.
 */
export interface SessionForwarder {
  push(uid: string, op: number, body: string | undefined): void;
  kick(uid: string, reason: string, message: string): void;
}

/**
 * The User↔Conn registry for feature modules: who is online, push to a user,
 * kick a user, and login/logout events. One user, one connection: a newer
 * login kicks the older one with reason `relogin`.
 */
@Injectable()
export class SessionService implements OnModuleInit {
  private readonly logger = new Logger('SessionService');
  private readonly loginSubject = new Subject<LoginEvent>();
  private readonly logoutSubject = new Subject<LogoutEvent>();
  private forwarder: SessionForwarder | null = null;

  /** Fires after a user is bound to a connection. */
  readonly logins$: Observable<LoginEvent> = this.loginSubject.asObservable();
  /** Fires exactly once per session, whatever ended it. */
  readonly logouts$: Observable<LogoutEvent> = this.logoutSubject.asObservable();

  constructor(
    @Inject(SESSION_REGISTRY) private readonly registry: SessionRegistry,
    private readonly server: LonglinkServer,
  ) {}

  onModuleInit(): void {
    // 'closing' fires when the server kicks or the peer leaves, before the socket is
    // gone: the registry never points at a connection that is on its way out.
    this.server.on('closing', (conn) => this.release(conn, conn.closeReason ?? 'closed'));
  }

  /**
   * Binds `uid` to `conn`. Synchronous, so two racing logins of one user are
   * ordered: the later one wins and the earlier connection is kicked.
   */
  login(conn: LonglinkConnection, uid: string, lastSeq?: number): SessionUser {
    if (!conn.isOpen) throw new LonglinkException(ErrorCode.NotLoggedIn, 'connection is closing');
    const current = conn.user;
    if (current instanceof SessionUser) {
      if (current.uid === uid) return current;
      throw new LonglinkException(ErrorCode.AlreadyLoggedIn, `already logged in as ${current.uid}`);
    }
    const user = new SessionUser(uid, conn);
    conn.user = user;
    const previous = this.registry.bind(user);
    if (previous) {
      previous.kicked = true;
      this.end(previous, KickReason.Relogin);
      previous.conn.kick(KickReason.Relogin, 'logged in from another connection');
    }
    this.server.touch(conn);
    // On every LOGIN's path: no message built (and dropped by the logger) unless debug is on.
    if (Logger.isLevelEnabled('debug')) this.logger.debug(`${describe(conn)} logged in`);
    this.loginSubject.next({ user, lastSeq });
    return user;
  }

  /** Ends the session of `conn` (LOGOUT PDU); the connection closes after the reply. */
  logout(conn: LonglinkConnection): void {
    this.release(conn, KickReason.Logout);
  }

  find(uid: string): LonglinkConnection | undefined {
    return this.registry.get(uid)?.conn;
  }

  getUser(uid: string): SessionUser | undefined {
    return this.registry.get(uid);
  }

  isOnline(uid: string): boolean {
    return this.registry.get(uid) !== undefined;
  }

  count(): number {
    return this.registry.count();
  }

  onlineUids(): IterableIterator<string> {
    return this.registry.uids();
  }

  /** Lets cluster mode reach users on other nodes. */
  useForwarder(forwarder: SessionForwarder): void {
    this.forwarder = forwarder;
  }

  /**
   * Pushes a PDU (seq 0) to a user's connection; false when the user is not
   * online here. In cluster mode a user not online here gets it from the node
   * that holds it, if any.
   */
  push(uid: string, op: number, body?: unknown): boolean {
    const conn = this.registry.get(uid)?.conn;
    const text = body === undefined ? undefined : JSON.stringify(body);
    if (!conn || !conn.isOpen) {
      this.forwarder?.push(uid, op, text);
      return false;
    }
    conn.send(op, 0, text);
    return true;
  }

  /**
   * Sends KICK {reason} to a user and closes the connection; false when not
   * online here (in cluster mode the user's node, if any, kicks it).
   */
  kick(uid: string, reason: string, message = reason): boolean {
    const user = this.registry.get(uid);
    if (!user) {
      this.forwarder?.kick(uid, reason, message);
      return false;
    }
    user.kicked = true;
    this.end(user, reason);
    user.conn.kick(reason, message);
    return true;
  }

  private release(conn: LonglinkConnection, reason: string): void {
    const user = conn.user;
    if (user instanceof SessionUser) this.end(user, reason);
  }

  /** Unbinds and fires logout once; the connection keeps `user` only until this point. */
  private end(user: SessionUser, reason: string): void {
    if (user.conn.user !== user) return;
    user.conn.user = undefined;
    this.registry.unbind(user);
    this.logoutSubject.next({ user, reason });
  }
}
