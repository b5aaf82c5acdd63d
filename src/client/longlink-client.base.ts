import { MsgOp } from '../messaging/messaging.ops.js';
import { ErrorCode, KickReason } from '../transport/error-codes.js';
import { Op } from '../transport/op-codes.js';
import type { TransportFactory } from './byte-transport.js';
import type { ClientEvents, CloseEvent } from './client.events.js';
import {
  type ClientCoreOptions,
  type ResolvedClientOptions,
  resolveClientOptions,
} from './client.options.js';
import { HeartbeatTimer } from './heartbeat.timer.js';
import { InboxDelivery } from './inbox-delivery.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import { Outbox } from './outbox.js';
import { opName } from './pending-requests.js';
import { ProtocolLink } from './protocol-link.js';
import { randomClientMsgId } from './random-id.js';
import { ReconnectBackoff } from './reconnect-backoff.js';
import {
  type CodeBody,
  type ReconnectAdvice,
  type SendAck,
  type SessionInfo,
  parseReconnectAdvice,
  parseSessionInfo,
} from './server-bodies.js';
import { type Listener, TypedEmitter } from './typed-emitter.js';

/**
 * idle → connecting → ready ⇄ reconnecting → closed. `ready`: logged in and synced.
 * A closed client may connect() again.
 */
export type ClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface RequestOptions {
  /** Overrides requestTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface SendOptions {
  /** Your id for this message, unique per sender: makes resending it (even later) safe. */
  clientMsgId?: string;
  /**
   * Fail for good (`timeout`) if not acknowledged within this long, counted from the call.
   * Default: no limit; the message waits through outages until acknowledged or refused.
   */
  timeoutMs?: number;
}

/** LOGIN refusals worth retrying on reconnect: the server was busy, it did not say no. */
const RETRYABLE_LOGIN_CODES: ReadonlySet<string> = new Set([
  ErrorCode.RateLimited,
  ErrorCode.InternalError,
]);

/** The longest RECONNECT delay honoured: a server asking for more is broken, not busy. */
const MAX_ADVISED_DELAY_MS = 10 * 60_000;

/**
 * A longlink client (docs/CLIENT.md): logs in, keeps the connection alive, reconnects with
 * backoff, delivers the inbox in order exactly once per process and acknowledges it.
 * The wire work is ProtocolLink's; this class is the session. It names no byte transport:
 * the entry's LonglinkClient (Node: TCP/TLS, browser: WebSocket) supplies the default, so
 * neither runtime's bundle pulls in the other's.
 */
export class LonglinkClientBase extends TypedEmitter<ClientEvents> {
  private readonly options: ResolvedClientOptions;
  private readonly inbox: InboxDelivery;
  private readonly outbox: Outbox;
  private readonly heartbeat = new HeartbeatTimer();
  private readonly backoff: ReconnectBackoff | null;
  private currentState: ClientState = 'idle';
  private link: ProtocolLink | null = null;
  private sessionInfo: SessionInfo | undefined;
  private lastKick: CodeBody | undefined;
  /** The current link's RECONNECT, if it sent one: the next attempt waits for afterMs. */
  private advice: ReconnectAdvice | undefined;
  private lastClose: CloseEvent | undefined;
  /** Why we dropped the link ourselves (heartbeat or SYNC unanswered), for 'disconnect'. */
  private dropReason: string | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stateWatchers = new Set<() => void>();

  /** `defaultTransport` is called when `options.transport` is absent. */
  constructor(options: ClientCoreOptions, defaultTransport: () => TransportFactory) {
    super();
    this.options = resolveClientOptions(options, defaultTransport);
    const { autoAck, dedupeWindow, lastSeqStore: store, requestTimeoutMs } = this.options;
    this.inbox = new InboxDelivery(
      { autoAck, dedupeWindow, store, requestTimeoutMs },
      {
        readyLink: () => (this.currentState === 'ready' ? this.link : null),
        deliver: (message) => this.emit('message', message),
        hasListeners: () => this.listenerCount('message') > 0,
        report: (error) => this.report(error),
        drop: (link, reason) => this.drop(link, reason),
      },
    );
    this.outbox = new Outbox(this.options.outbox, {
      readyLink: () => (this.currentState === 'ready' && this.link?.isOpen ? this.link : null),
      maxFrameBytes: () => this.sessionInfo?.limits?.maxFrameBytes,
      emit: (event) => this.fire('outbox', event),
      report: (error) => this.report(error),
    });
    this.backoff = this.options.reconnect && new ReconnectBackoff(this.options.reconnect);
  }

  override on<K extends keyof ClientEvents>(event: K, listener: Listener<ClientEvents[K]>): this {
    super.on(event, listener);
    // Pushes that came before the first message listener are handed over now (after on()).
    if (event === 'message') queueMicrotask(() => this.inbox.listenerAdded());
    return this;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** The last LOGIN reply: uid, heartbeat interval, server time. */
  get session(): SessionInfo | undefined {
    return this.sessionInfo;
  }

  /** The highest inbox seq processed without a gap: what the LastSeqStore holds. */
  get lastSeq(): number | undefined {
    return this.inbox.held;
  }

  /** Messages in the outbox: sent or waiting, not acknowledged yet. */
  get pendingMessages(): number {
    return this.outbox.size;
  }

  /**
   * Connects, logs in and syncs. Rejects (no retry) when the server cannot be reached
   * (`cannot-connect`) or refuses the login (its code, e.g. `invalid-token`); reconnecting
   * starts only once a session has been established.
   */
  async connect(): Promise<SessionInfo> {
    if (this.currentState !== 'idle' && this.currentState !== 'closed') {
      throw new Error(`connect(): the client is already ${this.currentState}`);
    }
    this.setState('connecting');
    try {
      await this.inbox.start();
      await this.outbox.start();
      return await this.establish();
    } catch (error) {
      // (state, not currentState: TS would keep the narrowing from the check above.)
      if (this.state === 'connecting') {
        this.setState('closed');
        const code = error instanceof LonglinkClientError ? error.code : String(error);
        const failure = new LonglinkClientError(
          ClientErrorCode.Closed,
          `the client is closed (connect() failed: ${code})`,
        );
        this.outbox.failAll(failure, true);
      }
      throw error;
    }
  }

  /**
   * Sends a message through the outbox; resolves with its msgId once the server has stored it,
   * however many reconnects that takes: while not connected it waits, in order, and a SEND whose
   * reply was cut off goes again with the same clientMsgId (the server stores it once). Rejects
   * only when it failed for good (the 'outbox' event's `failed`, docs/CLIENT.md).
   */
  async send(to: string, content: unknown, options: SendOptions = {}): Promise<string> {
    return (await this.sendWithAck(to, content, options)).msgId;
  }

  /**
   * send(), resolving with the whole SEND_ACK: also the message's seq in the recipient's inbox
   * (what the recipient's acknowledgement cursor is compared with) and the server's timestamp.
   */
  async sendWithAck(to: string, content: unknown, options: SendOptions = {}): Promise<SendAck> {
    const refusal = this.readiness();
    if (refusal instanceof LonglinkClientError) throw refusal;
    const clientMsgId = options.clientMsgId ?? randomClientMsgId();
    const entry = { clientMsgId, to, content, queuedAt: Date.now() };
    return this.outbox.enqueue(entry, options.timeoutMs);
  }

  /** An application request (op ≥ 1000): resolves with the reply body, rejects on ERROR. */
  async request(op: number, body?: unknown, options: RequestOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const link = await this.whenReady(deadline);
    try {
      return await link.request(op, body, deadline - Date.now());
    } catch (error) {
      throw timeoutOf(error, opName(op), timeoutMs);
    }
  }

  /**
   * The body of the next application push of `op` (op ≥ 1000) that `match`
   * accepts; rejects with `timeout` after timeoutMs (default: requestTimeoutMs),
   * or `closed` if close() is called first. Pushes before the call do not count.
   */
  waitFor(
    op: number,
    match: (body: unknown) => boolean = () => true,
    options: RequestOptions = {},
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('push', onPush);
        this.off('close', onClose);
      };
      const onPush = (pushedOp: number, body: unknown) => {
        if (pushedOp !== op || !match(body)) return;
        done();
        resolve(body);
      };
      const onClose = () => {
        done();
        reject(
          new LonglinkClientError(ClientErrorCode.Closed, `closed while waiting for op ${op}`),
        );
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new LonglinkClientError(
            ClientErrorCode.Timeout,
            `no push of op ${op} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.on('push', onPush);
      this.on('close', onClose);
    });
  }

  /** Acknowledges a message (with autoAck: false); acks may come in any order. */
  ack(seq: number): void {
    this.inbox.ack(seq);
  }

  /**
   * Acknowledges what the application has processed, closes the connection and stops
   * reconnecting. A message listener still running is not waited for: its message comes again.
   */
  async close(): Promise<void> {
    if (this.currentState === 'idle' || this.currentState === 'closed') {
      await Promise.all([this.inbox.idle(), this.outbox.idle()]);
      return;
    }
    const link = this.link;
    this.link = null;
    if (link !== null && this.currentState === 'ready') this.inbox.flushFinalAck(link);
    this.finish({ reason: 'closed', message: 'close() was called' });
    await Promise.all([link?.end(), this.inbox.idle(), this.outbox.idle()]);
  }

  /** One connection attempt: open, LOGIN, heartbeat, SYNC. Cleans up after itself on failure. */
  private async establish(): Promise<SessionInfo> {
    this.lastKick = undefined;
    this.dropReason = undefined;
    this.advice = undefined;
    const link: ProtocolLink = new ProtocolLink(
      {
        // Events of a link that was replaced or dropped are stale: ignore them.
        onPush: (op, body) => {
          if (link === this.link) this.onPush(op, body);
        },
        onKick: (kick) => {
          if (link === this.link) this.onKick(kick);
        },
        onStrayError: (error) => {
          if (link === this.link) this.report(error);
        },
        onClose: (error) => this.onLinkClosed(link, error),
      },
      this.options.maxFrameBytes,
    );
    this.link = link;
    try {
      await link.open(this.options.transport);
      this.assertActive();
      const source = this.options.token;
      const token = typeof source === 'function' ? await source() : source;
      this.assertActive();
      const lastSeq = this.inbox.resumeSeq;
      const login = lastSeq === undefined ? { token } : { token, lastSeq };
      const timeout = this.options.requestTimeoutMs;
      const session = parseSessionInfo(await link.request(Op.LOGIN, login, timeout));
      this.assertActive();
      this.sessionInfo = session;
      // From here on every frame is paced to what the server announced.
      link.setLimits(session.limits);
      this.heartbeat.start(link, session, () => this.drop(link, 'heartbeat timeout'));
      // Resume exactly after what we hold; a fresh client lets the server resume after its acks.
      if (this.inbox.resumeSeq !== undefined) await this.inbox.syncOn(link);
      this.assertActive();
      this.setState('ready');
      this.inbox.scheduleAck();
      return session;
    } catch (error) {
      if (this.link === link) this.link = null;
      this.heartbeat.stop();
      link.destroy();
      throw error;
    }
  }

  private assertActive(): void {
    if (this.currentState === 'closed') {
      throw new LonglinkClientError(ClientErrorCode.Closed, 'close() was called');
    }
  }

  private onLinkClosed(link: ProtocolLink, error: Error | undefined): void {
    if (link !== this.link) return;
    this.link = null;
    this.heartbeat.stop();
    if (this.currentState !== 'ready') return; // establish() or close() is in charge
    const kick = this.lastKick;
    const advice = this.advice;
    const reason =
      kick?.code ?? this.dropReason ?? advice?.reason ?? error?.message ?? 'connection closed';
    // §4.4: after `relogin` another session owns the user; reconnecting would kick it back.
    const willReconnect = this.backoff !== null && kick?.code !== KickReason.Relogin;
    if (willReconnect) this.setState('reconnecting');
    this.fire(
      'disconnect',
      advice ? { reason, willReconnect, afterMs: advice.afterMs } : { reason, willReconnect },
    );
    if (willReconnect) this.scheduleReconnect();
    else if (kick) this.finish({ reason: kick.code, message: kick.message });
    else this.finish({ reason: 'disconnected', message: reason });
  }

  private scheduleReconnect(error?: Error): void {
    if (this.backoff === null) return;
    // A server that announced its shutdown said when to come back: not before afterMs, however
    // short the backoff's first delay (its jitter spreads the fleet; ours would only add to it).
    const delayMs = Math.max(this.backoff.next(), this.advice?.afterMs ?? 0);
    this.advice = undefined;
    const attempt = this.backoff.attempts;
    this.fire('reconnecting', error ? { attempt, delayMs, error } : { attempt, delayMs });
    this.reconnectTimer = setTimeout(() => void this.reconnect(attempt), delayMs);
  }

  private async reconnect(attempt: number): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.currentState !== 'reconnecting') return;
    try {
      const session = await this.establish();
      this.backoff?.reset();
      this.fire('reconnect', { attempt, session });
    } catch (error) {
      if (this.currentState !== 'reconnecting') return;
      const kick = this.lastKick;
      if (kick?.code === KickReason.Relogin) {
        this.finish({ reason: kick.code, message: kick.message });
      } else if (
        error instanceof LonglinkClientError &&
        error.fromServer &&
        !RETRYABLE_LOGIN_CODES.has(error.code)
      ) {
        // The server said no (invalid-token, access-denied, …): the same login cannot succeed.
        this.finish({ reason: error.code, message: error.message });
      } else {
        this.scheduleReconnect(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  private finish(event: CloseEvent): void {
    const link = this.link;
    this.link = null;
    link?.destroy();
    this.lastClose = event;
    this.heartbeat.stop();
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.inbox.stop();
    this.setState('closed');
    this.outbox.failAll(outboxFailure(event), OUTBOX_KEPT_ON.has(event.reason));
    this.fire('close', event);
  }

  private drop(link: ProtocolLink, reason: string): void {
    if (link !== this.link) return;
    this.dropReason = reason;
    link.destroy();
  }

  private onKick(kick: CodeBody): void {
    this.lastKick = kick;
    const willReconnect = this.backoff !== null && kick.code !== KickReason.Relogin;
    this.fire('kick', { ...kick, willReconnect });
  }

  private onPush(op: number, body: unknown): void {
    if (op === MsgOp.MSG) this.inbox.onPush(body);
    else if (op === Op.RECONNECT) this.onReconnectAdvice(body);
    else this.fire('push', op, body);
  }

  /**
   * RECONNECT: the server closes this link once its requests in flight are answered. Until then
   * it stays in use (answers, acks, even new requests: one cut short is resent or fails as on any
   * disconnect); the close is what starts the advised wait.
   */
  private onReconnectAdvice(body: unknown): void {
    const advice = parseReconnectAdvice(body, MAX_ADVISED_DELAY_MS);
    this.advice = advice;
    this.fire('reconnect-advised', { ...advice, willReconnect: this.backoff !== null });
  }

  /** Resolves with an open, logged-in link; waits through (re)connecting until the deadline. */
  private whenReady(deadline: number): Promise<ProtocolLink> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const outcome = this.readiness();
        if (outcome === undefined) return false;
        this.stateWatchers.delete(check);
        clearTimeout(timer);
        if (outcome instanceof ProtocolLink) resolve(outcome);
        else reject(outcome);
        return true;
      };
      const timer = setTimeout(
        () => {
          this.stateWatchers.delete(check);
          reject(new LonglinkClientError(ClientErrorCode.Timeout, 'not connected in time'));
        },
        Math.max(0, deadline - Date.now()),
      );
      if (!check()) this.stateWatchers.add(check);
    });
  }

  /** The link to use now, the error to fail with, or undefined: wait for the next state. */
  private readiness(): ProtocolLink | LonglinkClientError | undefined {
    const link = this.link;
    switch (this.currentState) {
      case 'ready':
        // A kicked link is still current until it closes; its successor is worth waiting for.
        return link?.isOpen ? link : undefined;
      case 'idle':
        return new LonglinkClientError(ClientErrorCode.NotConnected, 'call connect() first');
      case 'closed':
        return new LonglinkClientError(
          ClientErrorCode.Closed,
          `the client is closed (${this.lastClose?.reason ?? 'closed'})`,
        );
      default:
        return undefined;
    }
  }

  private setState(state: ClientState): void {
    this.currentState = state;
    for (const check of [...this.stateWatchers]) check();
    if (state === 'ready') this.outbox.pump();
  }

  private fire<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    for (const result of this.emit(event, ...args)) {
      if (result instanceof Promise) result.catch((error: unknown) => this.report(error));
    }
  }

  /** To 'error' listeners; with none, thrown (asynchronously), as node:events does. */
  private report(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error));
    const results =
      this.listenerCount('error') === 0 ? [Promise.reject(failure)] : this.emit('error', failure);
    for (const result of results) {
      if (result instanceof Promise) {
        result.catch((thrown: unknown) =>
          queueMicrotask(() => {
            throw thrown;
          }),
        );
      }
    }
  }
}

/**
 * Why the client stopped, as the failure of the messages still in the outbox. A stop that says
 * nothing about the messages (close(), a lost link with reconnect off) leaves them in the
 * OutboxStore for a later client; a session taken or refused (relogin, access-denied, …) does not.
 */
const OUTBOX_KEPT_ON: ReadonlySet<string> = new Set(['closed', 'disconnected']);

function outboxFailure(event: CloseEvent): LonglinkClientError {
  if (event.reason === 'closed') {
    return new LonglinkClientError(ClientErrorCode.Closed, 'close() was called');
  }
  if (event.reason === 'disconnected') {
    return new LonglinkClientError(ClientErrorCode.Disconnected, event.message);
  }
  return new LonglinkClientError(event.reason, event.message, true);
}

/** A request's timeout, restated with the caller's whole budget rather than what was left of it. */
function timeoutOf(error: unknown, what: string, timeoutMs: number): unknown {
  return isCode(error, ClientErrorCode.Timeout)
    ? new LonglinkClientError(
        ClientErrorCode.Timeout,
        `no answer to ${what} within ${timeoutMs} ms`,
      )
    : error;
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof LonglinkClientError && error.code === code;
}
