import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { IncomingMessage, STATUS_CODES } from 'node:http';
import { Server as NetServer, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { LonglinkServer } from '../transport/longlink.server.js';
import { WebSocketStream } from './websocket.stream.js';

/** The one path upgraded; other paths are left to other upgrade listeners, or answered 404. */
export const WEBSOCKET_PATH = '/ws';
/** The subprotocol selected when a client offers it; none is required. */
export const WEBSOCKET_SUBPROTOCOL = 'longlink';

type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
type Verdict = (ok: boolean, status?: number) => void;

/**
 * The WebSocket listener at /ws on the HTTP port: checks a handshake as TCP
 * checks a connect (plus the browser Origin), then hands the socket to the
 * transport (LonglinkServer.adopt) as one more byte source.
 */
@Injectable()
export class WebSocketListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('WebSocketListener');
  private httpServer: NetServer | null = null;
  private wss: WebSocketServer | null = null;
  /** websocket.allowedOrigins as URL origins; null: any ("*"); empty: the port's own origin. */
  private allowedOrigins: Set<string> | null = null;
  private readonly onUpgrade: UpgradeListener = (req, socket, head) =>
    this.upgrade(req, socket, head);

  constructor(
    private readonly server: LonglinkServer,
    private readonly adapterHost: HttpAdapterHost,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.websocket.enabled) return;
    // No HTTP adapter (a microservice-only app): nothing to listen on.
    const httpServer: unknown = this.adapterHost.httpAdapter?.getHttpServer();
    if (!(httpServer instanceof NetServer)) return;
    const origins = this.config.websocket.allowedOrigins;
    this.allowedOrigins = origins.includes('*')
      ? null
      : new Set(origins.map((o) => new URL(o).origin));
    this.wss = new WebSocketServer({
      noServer: true,
      // A message is one frame, so the frame limit is the message limit (ws closes 1009 above it).
      maxPayload: this.config.server.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // The checks run inside ws's handshake, after its header validation: the per-IP slot
      // refusalOf() takes is then always followed by adopt() (no failed handshake leaks it).
      verifyClient: (info: { origin: string | undefined; req: IncomingMessage }, done: Verdict) =>
        done(...this.verify(info.origin, info.req)),
      handleProtocols: (offered: Set<string>) =>
        offered.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false,
    });
    httpServer.on('upgrade', this.onUpgrade);
    this.httpServer = httpServer;
  }

  onApplicationShutdown(): void {
    this.httpServer?.off('upgrade', this.onUpgrade);
    this.httpServer = null;
    // Open WebSocket connections belong to the transport, which closes them at its close().
    this.wss = null;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const wss = this.wss;
    if (pathOf(req) !== WEBSOCKET_PATH) {
      // Someone else may upgrade this path; alone, we answer it.
      if (this.httpServer !== null && this.httpServer.listenerCount('upgrade') === 1) {
        refuse(socket, 404);
      }
      return;
    }
    // Node leaves an upgraded socket without an error listener: a reset must not crash us.
    socket.on('error', () => undefined);
    if (wss === null || !(socket instanceof Socket)) return refuse(socket, 503);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => this.adopt(ws, socket));
  }

  /** The handshake's fate: [true] or [false, HTTP status]. No PDU, as a TCP refusal sends none. */
  private verify(origin: string | undefined, req: IncomingMessage): [boolean, number?] {
    // Not ready yet, or draining: a balancer should try another node.
    if (!this.server.isAccepting) return [false, 503];
    if (!this.originAllowed(origin, req.headers.host)) {
      this.logger.debug?.(`refused origin ${origin}`);
      return [false, 403];
    }
    // ws drops a half-closed socket silently after this: it must not take a slot.
    if (!req.socket.readable || !req.socket.writable) return [false, 400];
    const address = req.socket.remoteAddress ?? 'unknown';
    // Last: it reserves the address's connection slot (lists, bans, per-IP caps as on TCP).
    const reason = this.server.refusalOf(address);
    if (reason !== null) {
      this.logger.debug?.(`refused ${address}: ${reason}`);
      return [false, 403];
    }
    return [true];
  }

  /**
   * No Origin: not a browser, accepted (browsers always send one). "*": any origin.
   * [] : the HTTP port's own origin (its host is the Host header). Else: the exact list.
   */
  private originAllowed(origin: string | undefined, host: string | undefined): boolean {
    const allowed = this.allowedOrigins;
    if (origin === undefined || allowed === null) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed pages, file://) and garbage
    }
    if (allowed.size > 0) return allowed.has(url.origin);
    if (host === undefined) return false;
    try {
      // Parsed the same way, so default ports compare equal (example.com:443 = example.com).
      return new URL(`${url.protocol}//${host}`).host === url.host;
    } catch {
      return false;
    }
  }

  private adopt(ws: WebSocket, socket: Socket): void {
    const remote = { address: socket.remoteAddress ?? 'unknown', port: socket.remotePort ?? 0 };
    this.server.adopt(new WebSocketStream(ws, socket), remote, 'websocket');
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A plain HTTP answer to an upgrade request, then the socket is closed. */
function refuse(socket: Duplex, status: number): void {
  socket.on('error', () => undefined);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  );
}
