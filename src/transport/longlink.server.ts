import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { AddressInfo, Server as NetServer, Socket, createServer } from 'node:net';
import { SecureContext, TLSSocket, createSecureContext } from 'node:tls';
import { Observable, isObservable } from 'rxjs';
import { ConnectionLimits, ConnectionOwner, LonglinkConnection } from './connection.js';
import { ConnectionStream, ListenerKind } from './connection-stream.js';
import { ErrorCode, KickReason } from './error-codes.js';
import { FlushScheduler } from './flush-scheduler.js';
import { DirectHandler, DirectRouteSource } from './direct-route.js';
import { EarlyRefusal } from './early-refusal.js';
import { BodyError, BodyLimits, parseBody } from './frame-body.js';
import { FrameError } from './frame.codec.js';
import { IdleWheel } from './idle-wheel.js';
import { LonglinkContext } from './longlink.context.js';
import { Op, OpRegistry, OpRoute, REPLY_FLAG } from './ops.js';
import { toErrorReply } from './error-reply.js';
import { TransportHooks } from './transport-hooks.js';
import { NO_REPLY } from './no-reply.js';
import { RawJson } from './raw-json.js';
import { ReadBudget, ReadBudgetOptions } from './read-budget.js';
import { ProxyGate, ProxyProtocolOptions } from './proxy-gate.js';
import { TransportStats } from './transport-stats.js';

/** Connections held while the app initializes; more are closed (an init is seconds at most). */
const MAX_WAITING_CONNECTIONS = 10_000;

/** Identifies longlink handlers in hybrid apps. */
export const LONGLINK_TRANSPORT = Symbol('longlink');

export interface LonglinkServerOptions extends ConnectionLimits {
  host: string;
  port: number;
  /** Granularity of the idle/login deadline sweep. */
  sweepIntervalMs: number;
  /** Idle/login-timeout kicks per event-loop turn (a mass expiry is spread over turns). */
  maxKicksPerTurn: number;
  /** Nesting levels allowed in a JSON body. */
  maxJsonDepth: number;
  /** Keys and array elements allowed in a JSON body (commas plus objects and arrays). */
  maxJsonItems: number;
  /** Bytes read per window per connection and per IP, before and after login. */
  readBudget: ReadBudgetOptions;
  /** At close: how long in-flight requests may take before connections are closed. */
  drainTimeoutMs: number;
  /** At close: clients are told to reconnect after this plus a random 0..reconnectJitterMs. */
  reconnectAfterMs: number;
  reconnectJitterMs: number;
  /** PEM certificate and key: the listener speaks TLS. */
  tls?: { cert: Buffer; key: Buffer } | null;
  /** PROXY protocol from trusted load balancers (read before TLS); null or absent: off. */
  proxyProtocol?: ProxyProtocolOptions | null;
}

export type LonglinkStatus = 'listening' | 'closing' | 'closed' | 'error';

type ConnectionListener = (conn: LonglinkConnection) => void;
export type LonglinkEvents = {
  connection: ConnectionListener;
  /** A connection began to close (kick, error, timeout, peer close): closeReason is set. */
  closing: ConnectionListener;
  /** The socket is gone and every resource of the connection released. */
  disconnect: ConnectionListener;
  error: (err: Error) => void;
};

/**
 * The longlink transport: owns the TCP listener, one LonglinkConnection per
 * socket, and dispatches each frame to the @MessagePattern handler of its op
 * through Nest's pipeline (guards, interceptors, pipes, filters), or straight
 * to the method where that pipeline would do nothing else (DirectRouteSource).
 */
export class LonglinkServer
  extends Server<LonglinkEvents, LonglinkStatus>
  implements CustomTransportStrategy, ConnectionOwner
{
  readonly transportId = LONGLINK_TRANSPORT;
  protected readonly logger = new Logger('LonglinkServer');

  private netServer: NetServer | null = null;
  private readonly connections = new Set<LonglinkConnection>();
  /** Frames by op, ERROR codes and KICK reasons (read by metrics). */
  readonly stats = new TransportStats();
  private readonly scheduler = new FlushScheduler();
  private wheel: IdleWheel<LonglinkConnection>;
  private readonly hooks: TransportHooks[] = [];
  private frameHooks: TransportHooks[] = [];
  private readonly listeners: { [K in keyof LonglinkEvents]: LonglinkEvents[K][] } = {
    connection: [],
    closing: [],
    disconnect: [],
    error: [],
  };
  private ops = new OpRegistry();
  private nextConnectionId = 1;
  /** Requests dispatched to handlers and not yet answered (drained at close). */
  private inflight = 0;
  private drained: (() => void) | null = null;
  private closing: Promise<void> | null = null;
  private allClosed: (() => void) | null = null;
  private options: LonglinkServerOptions | undefined;
  private secureContext: SecureContext | null;
  private bodyLimits: BodyLimits;
  private readBudget: ReadBudget;
  private directRoutes: DirectRouteSource | undefined = undefined;
  /** The PROXY protocol stage, when on (see ProxyGate). */
  private proxy: ProxyGate | null = null;
  /** Set once the app's modules are initialized (markReady). */
  private ready = false;
  /** Connections accepted before that, waiting unread. */
  private waiting: Socket[] = [];
  /** Refuses at the handle, before a Socket exists, where Node allows (see EarlyRefusal). */
  private readonly early = new EarlyRefusal(
    (address) => this.acceptCheck(address),
    (address, reason) => this.logger.debug?.(`refused ${address}: ${reason}`),
  );

  /**
   * Options now, or later through configure() (LonglinkModule.forRoot/forRootAsync
   * does it when the application's own providers have resolved them).
   */
  constructor(options?: LonglinkServerOptions) {
    super();
    if (options) this.configure(options);
  }

  /** Sets the options; only before listen(). */
  configure(options: LonglinkServerOptions): void {
    if (this.netServer) throw new Error('longlink server is already listening');
    this.options = options;
    this.secureContext = options.tls ? createSecureContext(options.tls) : null;
    this.bodyLimits = { maxDepth: options.maxJsonDepth, maxItems: options.maxJsonItems };
    this.readBudget = new ReadBudget(options.readBudget);
    this.proxy = options.proxyProtocol
      ? new ProxyGate(options.proxyProtocol, this.stats, (line) => this.logger.debug?.(line))
      : null;
    this.wheel = new IdleWheel<LonglinkConnection>(
      options.sweepIntervalMs,
      Math.max(options.heartbeatTimeoutMs, options.loginTimeoutMs),
      (conn) => this.expire(conn),
      Date.now(),
      options.maxKicksPerTurn,
    );
  }

  listen(callback: (err?: unknown) => void): void {
    const options = this.options;
    if (options === undefined) {
      return callback(
        new Error(
          'longlink server has no options: import LonglinkModule.forRoot() or forRootAsync()',
        ),
      );
    }
    try {
      // Checked now, so a bad op table fails startup; resolved again once the app is ready.
      this.resolveOps();
    } catch (err) {
      return callback(err);
    }
    // pauseOnConnect: access hooks decide before a single byte is read.
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) =>
      this.accept(socket),
    );
    this.netServer = server;
    const onStartupError = (err: Error) => {
      this._status$.next('error');
      callback(err);
    };
    server.once('error', onStartupError);
    server.listen(options.port, options.host, () => {
      server.off('error', onStartupError);
      server.on('error', (err) => this.emit('error', err));
      this.wheel.start();
      if (this.ready) this.early.install(server);
      this._status$.next('listening');
      const { address, port } = server.address() as AddressInfo;
      const proxy = options.proxyProtocol ? `, PROXY protocol ${options.proxyProtocol.mode}` : '';
      this.logger.log(`listening on ${address}:${port} (${this.ops.list().length} ops${proxy})`);
      callback();
    });
  }

  /**
   * Graceful close: stop accepting, tell every client to reconnect later (with
   * jitter, so a fleet does not return at once), let in-flight requests finish
   * (stores and their acks) for up to drainTimeoutMs, then close connections.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const server = this.netServer;
    this.netServer = null;
    this._status$.next('closing');
    if (server) server.close();
    for (const socket of this.waiting) socket.destroy();
    this.proxy?.closeAll();
    this.waiting = [];
    const { reconnectAfterMs, reconnectJitterMs, drainTimeoutMs } = this.options!;
    for (const conn of this.connections) {
      const afterMs = reconnectAfterMs + Math.floor(Math.random() * (reconnectJitterMs + 1));
      conn.send(Op.RECONNECT, 0, JSON.stringify({ reason: 'server-shutdown', afterMs }));
    }
    await this.drain(drainTimeoutMs);
    this.wheel.stop();
    const gone = new Promise<void>((resolve) => {
      if (this.connections.size === 0) resolve();
      else this.allClosed = resolve;
    });
    for (const conn of this.connections) conn.end(KickReason.ServerShutdown);
    // Every connection's close handling (events, hooks) has run; end() destroys laggards after its grace.
    await gone;
    this._status$.next('closed');
  }

  /** Resolves once no request is in flight, or after timeoutMs. */
  private drain(timeoutMs: number): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.drained = null;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.drained = done;
    });
  }

  /** Every open connection (for list reloads and admin tools). */
  forEachConnection(fn: (conn: LonglinkConnection) => void): void {
    for (const conn of this.connections) fn(conn);
  }

  on<K extends keyof LonglinkEvents>(event: K, callback: LonglinkEvents[K]): void {
    this.listeners[event].push(callback);
  }

  unwrap<T>(): T {
    if (!this.netServer) throw new Error('longlink server is not listening; call listen() first');
    return this.netServer as T;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return (this.netServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** True when access hooks run before Node builds a Socket (see EarlyRefusal). */
  get refusesAtHandle(): boolean {
    return this.early.active;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The op table resolved at listen time. */
  get routes(): OpRegistry {
    return this.ops;
  }

  /**
   * Called once every module's init hooks have run (LonglinkModule's bootstrap
   * hook): hooks, direct routes and the store are in place. In a hybrid app the
   * port may be listening before that (`startAllMicroservices()` before
   * `listen()`): connections accepted meanwhile wait, unread, and are let in now,
   * so every check is in force from the first connection whatever the order.
   */
  markReady(): void {
    if (this.ready) return;
    this.ready = true;
    this.resolveOps();
    if (this.netServer) this.early.install(this.netServer);
    const waiting = this.waiting;
    this.waiting = [];
    // Accepted before the handle checks were installed: checked on the Socket.
    for (const socket of waiting) if (!socket.destroyed) this.accept(socket, false);
  }

  /** op → handler (and direct routes, which are known once modules are initialized). */
  private resolveOps(): void {
    // Tracing hooks (setOnProcessingEndHook) need Nest's full request path on every route.
    const direct = this.onProcessingEndHook === undefined ? this.directRoutes : undefined;
    this.ops = OpRegistry.fromHandlers(this.messageHandlers, direct);
  }

  /** Lets routes that need no enhancer skip Nest's handler chain; resolved when ready. */
  useDirectRoutes(source: DirectRouteSource): void {
    this.directRoutes = source;
  }

  addHooks(hooks: TransportHooks): void {
    this.hooks.push(hooks);
    this.frameHooks = this.hooks.filter((h) => h.onFrame);
  }

  /** Called by the session layer after login: moves the connection to its heartbeat deadline. */
  touch(conn: LonglinkConnection): void {
    this.wheel.remove(conn);
    if (conn.isOpen) this.wheel.add(conn);
  }

  /** The first access hook's reason to refuse `address`, or null. */
  private refusal(address: string): string | null {
    for (const hook of this.hooks) {
      const reason = hook.onAccept?.(address);
      if (reason) return reason;
    }
    return null;
  }

  /**
   * The check at accept, by the TCP peer's address (at the handle while EarlyRefusal is
   * active). With the PROXY protocol on, a trusted balancer's own address is not checked: its
   * clients are, by the address its header names, once it is read.
   */
  private acceptCheck(peer: string): string | null {
    return this.proxy ? this.proxy.atAccept(peer, (a) => this.refusal(a)) : this.refusal(peer);
  }

  /** `checked`: acceptCheck already ran at the handle (sockets held before ready were not). */
  private accept(socket: Socket, checked = this.early.active): void {
    if (!this.ready) {
      // Before the app is initialized: held paused (pauseOnConnect), bounded, let in by markReady.
      if (this.waiting.length >= MAX_WAITING_CONNECTIONS) return void socket.destroy();
      socket.on('error', () => undefined);
      this.waiting.push(socket);
      return;
    }
    const address = peerAddress(socket);
    const peer = { address, port: socket.remotePort ?? 0 };
    const proxy = this.proxy;
    if (proxy?.trusts(address)) {
      // Not a connection yet: the access hooks see the client's address once the header names it.
      return proxy.read(socket, peer, (client) => this.admit(socket, peer, client));
    }
    if (!checked) {
      const reason = this.acceptCheck(address);
      if (reason) {
        this.logger.debug?.(`refused ${address}: ${reason}`);
        socket.destroy();
        return;
      }
    }
    const conn = this.open(socket, peer);
    // TLS would fail on a PROXY header anyway (no PDU); in clear the frame decoder would answer it.
    if (proxy && !this.secureContext) proxy.watchUntrusted(socket, conn, address);
  }

  /** After a trusted balancer's header: the access hooks on the client's address, then in. */
  private admit(
    socket: Socket,
    peer: { address: string; port: number },
    client: { address: string; port: number },
  ): void {
    const reason = this.refusal(client.address);
    if (reason) {
      this.logger.debug?.(`refused ${client.address} (via ${peer.address}): ${reason}`);
      socket.destroy();
      return;
    }
    this.open(socket, client, true);
  }

  /**
   * An admitted raw socket into the pipeline, under TLS when configured. `readBefore`: a PROXY
   * header was read from it, and TLS took over the bytes after it: resuming the raw socket
   * then would take the handshake from under TLS.
   */
  private open(
    socket: Socket,
    remote: { address: string; port: number },
    readBefore = false,
  ): LonglinkConnection {
    // TLS wraps the raw socket only after the access hooks let it in (and after a PROXY header).
    const stream = this.secureContext
      ? new TLSSocket(socket, { isServer: true, secureContext: this.secureContext })
      : socket;
    if (stream !== socket) stream.on('error', () => undefined);
    const conn = this.adopt(stream, remote, 'tcp');
    if (stream === socket || !readBefore) socket.resume();
    return conn;
  }

  /** True from close() on: the gateway drains (readiness probes report it). */
  get isDraining(): boolean {
    return this.closing !== null;
  }

  /** True between listen() and close(): other listeners refuse new connections otherwise. */
  get isAccepting(): boolean {
    return this.netServer !== null && this.ready;
  }

  /** Why `address` must be refused (access lists, bans, per-IP caps), or null: for other listeners. */
  refusalOf(address: string): string | null {
    return this.refusal(address);
  }

  /**
   * Takes a connection from any listener (TCP here, WebSocket in the HTTP module) into the one
   * pipeline: decoder, budgets, deadlines, hooks, sessions. The caller has checked refusalOf().
   */
  adopt(
    stream: ConnectionStream,
    remote: { address: string; port: number },
    listener: ListenerKind,
  ): LonglinkConnection {
    const now = Date.now();
    const conn = new LonglinkConnection(
      this.nextConnectionId++,
      stream,
      this,
      this.scheduler,
      this.options!,
      now,
      remote,
      this.readBudget.attach(remote.address, now),
      listener,
    );
    this.connections.add(conn);
    this.wheel.add(conn);
    this.emit('connection', conn);
    return conn;
  }

  onFrame(conn: LonglinkConnection, op: number, seq: number, body: Buffer): void {
    this.stats.frameIn(op);
    const hooks = this.frameHooks;
    for (let i = 0; i < hooks.length; i++) {
      if (!hooks[i].onFrame!(conn, op, seq, conn.lastTick)) return;
    }
    const route = this.ops.get(op);
    if (route === undefined) {
      return this.replyError(conn, seq, ErrorCode.UnknownOp, `no handler for op ${op}`);
    }
    let data: unknown;
    try {
      data = parseBody(body, this.bodyLimits);
    } catch (err) {
      return this.replyError(conn, seq, ErrorCode.BadJson, (err as BodyError).message);
    }
    this.dispatch(route, conn, seq, data);
  }

  onFrameError(conn: LonglinkConnection, error: FrameError): void {
    // Already closed (e.g. a PROXY header from an untrusted peer): nothing to answer.
    if (!conn.isOpen) return;
    this.logger.debug?.(`${describe(conn)}: ${error.code}: ${error.message}`);
    conn.failAndClose(0, error.code, error.message);
  }

  onRead(conn: LonglinkConnection, bytes: number, now: number): number {
    return this.readBudget.charge(conn, bytes, now);
  }

  onClosing(conn: LonglinkConnection): void {
    this.emit('closing', conn);
  }

  onClose(conn: LonglinkConnection): void {
    if (!this.connections.delete(conn)) return;
    this.readBudget.release(conn.remoteAddress, conn.ipReads);
    this.wheel.remove(conn);
    for (const hook of this.hooks) hook.onClose?.(conn);
    this.emit('disconnect', conn);
    this.logger.debug?.(`${describe(conn)} closed: ${conn.closeReason}`);
    if (this.connections.size === 0) this.allClosed?.();
  }

  private dispatch(route: OpRoute, conn: LonglinkConnection, seq: number, data: unknown): void {
    const ctx = new LonglinkContext([conn, route.op, seq]);
    const replyOp = route.op | REPLY_FLAG;
    this.inflight++;
    if (this.onProcessingEndHook !== undefined) {
      // Tracing hooks are installed: take Nest's full request path. One answer per request.
      let answered = false;
      return this.handleRequest(
        ctx,
        async () => this.transformToObservable(await route.handler(data, ctx)),
        (packet) => {
          if (answered) return;
          answered = true;
          if (packet.err !== undefined) this.replyException(conn, seq, packet.err);
          else this.reply(conn, replyOp, seq, packet.isDisposed ? undefined : packet.response);
        },
      );
    }
    if (route.direct !== undefined)
      return this.dispatchDirect(route.direct, conn, replyOp, seq, data, ctx);
    // Hot path: one promise from Nest's handler chain, no Observable for plain values.
    invoke(route.handler, data, ctx).then(
      (result) => this.replyWith(conn, replyOp, seq, result),
      (err) => this.replyException(conn, seq, err),
    );
  }

  /** A route Nest would only have called: call it, and map errors as Nest's filter would. */
  private dispatchDirect(
    handler: DirectHandler,
    conn: LonglinkConnection,
    replyOp: number,
    seq: number,
    data: unknown,
    ctx: LonglinkContext,
  ): void {
    const source = this.directRoutes!;
    let result: unknown;
    try {
      result = handler(data, ctx);
    } catch (err) {
      return this.replyException(conn, seq, source.mapError(err));
    }
    if (!isPromiseLike(result)) return this.replyWith(conn, replyOp, seq, result, source);
    result.then(
      (value) => this.replyWith(conn, replyOp, seq, value, source),
      (err) => this.replyException(conn, seq, source.mapError(err)),
    );
  }

  private replyWith(
    conn: LonglinkConnection,
    replyOp: number,
    seq: number,
    result: unknown,
    direct?: DirectRouteSource,
  ): void {
    if (isObservable(result)) this.replyFromObservable(conn, replyOp, seq, result, direct);
    else this.reply(conn, replyOp, seq, result);
  }

  private replyFromObservable(
    conn: LonglinkConnection,
    replyOp: number,
    seq: number,
    result: Observable<unknown>,
    direct?: DirectRouteSource,
  ) {
    let answered = false;
    result.subscribe({
      next: (value) => {
        if (answered) return;
        answered = true;
        this.reply(conn, replyOp, seq, value);
      },
      error: (err) => {
        if (!answered) this.replyException(conn, seq, direct ? direct.mapError(err) : err);
        answered = true;
      },
      complete: () => {
        if (!answered) this.reply(conn, replyOp, seq, undefined);
        answered = true;
      },
    });
  }

  /** A request got its answer (reply, error or nothing): drain can count it done. */
  private settled(): void {
    if (--this.inflight === 0 && this.drained) this.drained();
  }

  private reply(conn: LonglinkConnection, replyOp: number, seq: number, value: unknown): void {
    this.settled();
    if (value === NO_REPLY) return;
    if (value instanceof RawJson) return conn.send(replyOp, seq, value.text);
    conn.send(
      replyOp,
      seq,
      value === undefined || value === null ? undefined : JSON.stringify(value),
    );
  }

  private replyException(conn: LonglinkConnection, seq: number, err: unknown): void {
    this.settled();
    // Unknown errors were already logged by Nest's exception filter.
    const { body, close } = toErrorReply(err);
    if (close) conn.failAndClose(seq, body.code, body.message);
    else conn.sendError(seq, body.code, JSON.stringify(body));
  }

  private replyError(conn: LonglinkConnection, seq: number, code: string, message: string): void {
    conn.sendError(seq, code, JSON.stringify({ code, message }));
  }

  private expire(conn: LonglinkConnection): void {
    const now = Date.now();
    const loginDue = !conn.user && conn.acceptedAt + this.options!.loginTimeoutMs <= now;
    conn.kick(loginDue ? KickReason.LoginTimeout : KickReason.HeartbeatTimeout);
  }

  private emit<K extends keyof LonglinkEvents>(
    event: K,
    ...args: Parameters<LonglinkEvents[K]>
  ): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<LonglinkEvents[K]>) => void)(...args);
      } catch (err) {
        this.logger.error(`"${event}" listener failed: ${String(err)}`);
      }
    }
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/** Nest's handler chain returns a promise; guard against a synchronous throw all the same. */
function invoke(handler: MessageHandler, data: unknown, ctx: LonglinkContext): Promise<unknown> {
  try {
    return Promise.resolve(handler(data, ctx));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The peer address as accepted (before any TLS wrapping). */
function peerAddress(socket: Socket): string {
  return socket.remoteAddress ?? 'unknown';
}

/** Log context for one connection: id, remote address, user. */
export function describe(conn: LonglinkConnection): string {
  return `conn#${conn.id} ${conn.remoteAddress}:${conn.remotePort}${conn.user ? ` uid=${conn.user.uid}` : ''}`;
}
