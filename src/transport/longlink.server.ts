import { Logger } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { AddressInfo, Server as NetServer, Socket, createServer } from 'node:net';
import { Observable, isObservable } from 'rxjs';
import { ConnectionLimits, ConnectionOwner, LonglinkConnection } from './connection.js';
import { ErrorCode, KickReason } from './error-codes.js';
import { FlushScheduler } from './flush-scheduler.js';
import { BodyError, FrameError, parseBody } from './frame.codec.js';
import { IdleWheel } from './idle-wheel.js';
import { LonglinkContext } from './longlink.context.js';
import { Op, OpRegistry, OpRoute, REPLY_FLAG } from './ops.js';
import { toErrorReply } from './error-reply.js';
import { TransportHooks } from './transport-hooks.js';
import { NO_REPLY } from './no-reply.js';

/** Identifies longlink handlers in hybrid apps. */
export const LONGLINK_TRANSPORT = Symbol('longlink');

export interface LonglinkServerOptions extends ConnectionLimits {
  host: string;
  port: number;
  /** Granularity of the idle/login deadline sweep. */
  sweepIntervalMs: number;
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
 * through Nest's pipeline (guards, interceptors, pipes, filters).
 */
export class LonglinkServer
  extends Server<LonglinkEvents, LonglinkStatus>
  implements CustomTransportStrategy, ConnectionOwner
{
  readonly transportId = LONGLINK_TRANSPORT;
  protected readonly logger = new Logger('LonglinkServer');

  private netServer: NetServer | null = null;
  private readonly connections = new Set<LonglinkConnection>();
  private readonly scheduler = new FlushScheduler();
  private readonly wheel: IdleWheel<LonglinkConnection>;
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

  constructor(private readonly options: LonglinkServerOptions) {
    super();
    this.wheel = new IdleWheel<LonglinkConnection>(
      options.sweepIntervalMs,
      Math.max(options.heartbeatTimeoutMs, options.loginTimeoutMs),
      (conn) => this.expire(conn),
    );
  }

  listen(callback: (err?: unknown) => void): void {
    try {
      this.ops = OpRegistry.fromHandlers(this.messageHandlers);
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
    server.listen(this.options.port, this.options.host, () => {
      server.off('error', onStartupError);
      server.on('error', (err) => this.emit('error', err));
      this.wheel.start();
      this._status$.next('listening');
      const { address, port } = server.address() as AddressInfo;
      this.logger.log(`listening on ${address}:${port} (${this.ops.list().length} ops)`);
      callback();
    });
  }

  async close(): Promise<void> {
    this._status$.next('closing');
    this.wheel.stop();
    const server = this.netServer;
    this.netServer = null;
    for (const conn of this.connections) conn.destroy('server-closed');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this._status$.next('closed');
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

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The op table resolved at listen time. */
  get routes(): OpRegistry {
    return this.ops;
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

  private accept(socket: Socket): void {
    const remote = socket.remoteAddress ?? 'unknown';
    for (const hook of this.hooks) {
      const refusal = hook.onAccept?.(remote);
      if (refusal) {
        this.logger.debug?.(`refused ${remote}: ${refusal}`);
        socket.destroy();
        return;
      }
    }
    const conn = new LonglinkConnection(
      this.nextConnectionId++,
      socket,
      this,
      this.scheduler,
      this.options,
      Date.now(),
    );
    this.connections.add(conn);
    this.wheel.add(conn);
    this.emit('connection', conn);
    socket.resume();
  }

  onFrame(conn: LonglinkConnection, op: number, seq: number, body: Buffer): void {
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
      data = parseBody(body);
    } catch (err) {
      return this.replyError(conn, seq, ErrorCode.BadJson, (err as BodyError).message);
    }
    this.dispatch(route, conn, seq, data);
  }

  onFrameError(conn: LonglinkConnection, error: FrameError): void {
    this.logger.debug?.(`${describe(conn)}: ${error.code}: ${error.message}`);
    conn.failAndClose(0, error.code, error.message);
  }

  onClosing(conn: LonglinkConnection): void {
    this.emit('closing', conn);
  }

  onClose(conn: LonglinkConnection): void {
    if (!this.connections.delete(conn)) return;
    this.wheel.remove(conn);
    for (const hook of this.hooks) hook.onClose?.(conn);
    this.emit('disconnect', conn);
    this.logger.debug?.(`${describe(conn)} closed: ${conn.closeReason}`);
  }

  private dispatch(route: OpRoute, conn: LonglinkConnection, seq: number, data: unknown): void {
    const ctx = new LonglinkContext([conn, route.op, seq]);
    const replyOp = route.op | REPLY_FLAG;
    if (this.onProcessingEndHook !== undefined) {
      // Tracing hooks are installed: take Nest's full request path.
      return this.handleRequest(
        ctx,
        async () => this.transformToObservable(await route.handler(data, ctx)),
        (packet) => {
          if (packet.err !== undefined) this.replyException(conn, seq, packet.err);
          else if (!packet.isDisposed) this.reply(conn, replyOp, seq, packet.response);
        },
      );
    }
    // Hot path: one promise from Nest's handler chain, no Observable for plain values.
    invoke(route.handler, data, ctx).then(
      (result) => {
        if (isObservable(result)) this.replyFromObservable(conn, replyOp, seq, result);
        else this.reply(conn, replyOp, seq, result);
      },
      (err) => this.replyException(conn, seq, err),
    );
  }

  private replyFromObservable(
    conn: LonglinkConnection,
    replyOp: number,
    seq: number,
    result: Observable<unknown>,
  ) {
    let answered = false;
    result.subscribe({
      next: (value) => {
        if (answered) return;
        answered = true;
        this.reply(conn, replyOp, seq, value);
      },
      error: (err) => {
        if (!answered) this.replyException(conn, seq, err);
        answered = true;
      },
      complete: () => {
        if (!answered) this.reply(conn, replyOp, seq, undefined);
        answered = true;
      },
    });
  }

  private reply(conn: LonglinkConnection, replyOp: number, seq: number, value: unknown): void {
    if (value === NO_REPLY) return;
    conn.send(
      replyOp,
      seq,
      value === undefined || value === null ? undefined : JSON.stringify(value),
    );
  }

  private replyException(conn: LonglinkConnection, seq: number, err: unknown): void {
    // Unknown errors were already logged by Nest's exception filter.
    const { body, close } = toErrorReply(err);
    if (close) conn.failAndClose(seq, body.code, body.message);
    else conn.send(Op.ERROR, seq, JSON.stringify(body));
  }

  private replyError(conn: LonglinkConnection, seq: number, code: string, message: string): void {
    conn.send(Op.ERROR, seq, JSON.stringify({ code, message }));
  }

  private expire(conn: LonglinkConnection): void {
    const now = Date.now();
    const loginDue = !conn.user && conn.acceptedAt + this.options.loginTimeoutMs <= now;
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

/** Nest's handler chain returns a promise; guard against a synchronous throw all the same. */
function invoke(handler: MessageHandler, data: unknown, ctx: LonglinkContext): Promise<unknown> {
  try {
    return Promise.resolve(handler(data, ctx));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Log context for one connection: id, remote address, user. */
export function describe(conn: LonglinkConnection): string {
  return `conn#${conn.id} ${conn.remoteAddress}:${conn.remotePort}${conn.user ? ` uid=${conn.user.uid}` : ''}`;
}
