import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';

/**
 * The LOGIN reply's `limits` (docs/PROTOCOL.md §4.1): what the server refuses past, so the client
 * paces itself instead of being refused. Fields may be added; older servers send none.
 */
export interface ServerLimits {
  /** Frames a connection may send per window; more get ERROR rate-limited. */
  maxPackets: number;
  /** The window of maxPackets and kickPackets (ms). */
  intervalMs: number;
  /** Frames per window past which the server kicks the connection. */
  kickPackets?: number;
  /** The largest frame the client may send, header included (bytes). */
  maxFrameBytes?: number;
  /** Bytes per window before the server stops reading the connection for a while. */
  maxBytes?: number;
  /** Un-acknowledged MSG pushes the server keeps in flight to this connection. */
  pushWindow?: number;
  /** The server's rate rules (token buckets) that count this connection's frames. */
  rules?: AnnouncedRule[];
}

/** One rate rule of the LOGIN reply (docs/PROTOCOL.md §4.1). */
export interface AnnouncedRule {
  name: string;
  /** "*", or op numbers and inclusive [from, to] ranges. */
  ops: '*' | (number | [number, number])[];
  ratePerSecond: number;
  burst: number;
}

/** The LOGIN reply (docs/PROTOCOL.md §4.1): who the server says we are, and its heartbeat. */
export interface SessionInfo {
  uid: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  serverTimeMs: number;
  /** Absent from servers that announce none: the client does not pace then. */
  limits?: ServerLimits;
}

/** A MSG push (§4.6): one message of the user's inbox, numbered by its inbox seq. */
export interface InboxMessage {
  msgId: string;
  /** Inbox seq: 1, 2, 3, … per recipient, no gaps. Not the frame header's seq. */
  seq: number;
  from: string;
  /** Any JSON value, as the sender gave it. */
  content: unknown;
  /** When the server stored it, ms since the epoch. */
  ts: number;
}

/** The SEND reply (SEND_ACK). */
export interface SendAck {
  clientMsgId: string;
  msgId: string;
  seq: number;
  ts: number;
}

/** The body of RECONNECT (op 6). */
export interface ReconnectAdvice {
  reason: string;
  afterMs: number;
}

/** The body of ERROR and KICK. */
export interface CodeBody {
  code: string;
  message: string;
  /**
   * ERROR rate-limited: ms left in the server's window, after which it serves again;
   * daily-quota-exceeded: ms until the sender's UTC day ends.
   */
  retryAfterMs?: number;
  /** ERROR rate-limited by a token bucket (limits.rules, @RateLimit): the rule's name and rate. */
  limit?: string;
  ratePerSecond?: number;
}

// Checked, not cast: a server of another version must fail loudly here, not deep in the app.

type Fields = Record<string, unknown>;

function fields(body: unknown, what: string): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badReply(`${what}: expected an object`);
  }
  return body as Fields;
}

function str(f: Fields, key: string, what: string): string {
  const value = f[key];
  if (typeof value !== 'string') throw badReply(`${what}: ${key} is not a string`);
  return value;
}

function num(f: Fields, key: string, what: string): number {
  const value = f[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw badReply(`${what}: ${key} is not a number`);
  }
  return value;
}

function badReply(message: string): LonglinkClientError {
  return new LonglinkClientError(ClientErrorCode.BadReply, message);
}

export function parseSessionInfo(body: unknown): SessionInfo {
  const w = 'LOGIN reply';
  const f = fields(body, w);
  const session: SessionInfo = {
    uid: str(f, 'uid', w),
    heartbeatIntervalMs: num(f, 'heartbeatIntervalMs', w),
    heartbeatTimeoutMs: num(f, 'heartbeatTimeoutMs', w),
    serverTimeMs: num(f, 'serverTimeMs', w),
  };
  const limits = parseLimits(f.limits);
  if (limits !== undefined) session.limits = limits;
  return session;
}

/**
 * `limits`, leniently: pacing is an optimisation, so a server without them (or with fields this
 * client does not know) still logs in; without a usable maxPackets/intervalMs there is no pacing.
 */
function parseLimits(body: unknown): ServerLimits | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const f = body as Fields;
  const positive = (key: string): number | undefined => {
    const value = f[key];
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const maxPackets = positive('maxPackets');
  const intervalMs = positive('intervalMs');
  if (maxPackets === undefined || intervalMs === undefined) return undefined;
  const limits: ServerLimits = { maxPackets, intervalMs };
  for (const key of ['kickPackets', 'maxFrameBytes', 'maxBytes', 'pushWindow'] as const) {
    const value = positive(key);
    if (value !== undefined) limits[key] = value;
  }
  const rules = Array.isArray(f.rules) ? f.rules.map(parseRule).filter((r) => r !== undefined) : [];
  if (rules.length > 0) limits.rules = rules;
  return limits;
}

/** A rule this client can keep to, or undefined (then it is left to the refusals). */
function parseRule(body: unknown): AnnouncedRule | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const f = body as Fields;
  const { name, ops, ratePerSecond, burst } = f;
  if (typeof ratePerSecond !== 'number' || !(ratePerSecond > 0)) return undefined;
  if (typeof burst !== 'number' || !(burst >= 1)) return undefined;
  const isOp = (o: unknown) =>
    typeof o === 'number' ||
    (Array.isArray(o) && o.length === 2 && o.every((x) => typeof x === 'number'));
  if (ops !== '*' && !(Array.isArray(ops) && ops.every(isOp))) return undefined;
  return {
    name: typeof name === 'string' ? name : '',
    ops: ops as AnnouncedRule['ops'],
    ratePerSecond,
    burst,
  };
}

export function parseInboxMessage(body: unknown): InboxMessage {
  const w = 'MSG push';
  const f = fields(body, w);
  return {
    msgId: str(f, 'msgId', w),
    seq: num(f, 'seq', w),
    from: str(f, 'from', w),
    content: f.content,
    ts: num(f, 'ts', w),
  };
}

export function parseSendAck(body: unknown): SendAck {
  const w = 'SEND reply';
  const f = fields(body, w);
  return {
    clientMsgId: str(f, 'clientMsgId', w),
    msgId: str(f, 'msgId', w),
    seq: num(f, 'seq', w),
    ts: num(f, 'ts', w),
  };
}

/** The SYNC reply: the newest seq in the inbox. */
export function parseSyncReply(body: unknown): number {
  return num(fields(body, 'SYNC reply'), 'lastSeq', 'SYNC reply');
}

/** ERROR and KICK bodies; lenient, since an unreadable error is still an error. */
export function parseCodeBody(body: unknown): CodeBody {
  const f = typeof body === 'object' && body !== null ? (body as Fields) : {};
  const parsed: CodeBody = {
    code: typeof f.code === 'string' ? f.code : 'unknown-error',
    message: typeof f.message === 'string' ? f.message : '',
  };
  if (typeof f.retryAfterMs === 'number' && f.retryAfterMs >= 0) {
    parsed.retryAfterMs = f.retryAfterMs;
  }
  if (typeof f.limit === 'string') parsed.limit = f.limit;
  if (typeof f.ratePerSecond === 'number' && f.ratePerSecond > 0) {
    parsed.ratePerSecond = f.ratePerSecond;
  }
  return parsed;
}

/**
 * RECONNECT bodies; lenient like ERROR's, since the close it announces comes anyway. A delay that
 * is not a number counts as 0; one past `maxAfterMs` is capped, so a broken server cannot park
 * its clients for days.
 */
export function parseReconnectAdvice(body: unknown, maxAfterMs: number): ReconnectAdvice {
  const f = typeof body === 'object' && body !== null ? (body as Fields) : {};
  const afterMs = typeof f.afterMs === 'number' && f.afterMs > 0 ? f.afterMs : 0;
  return {
    reason: typeof f.reason === 'string' ? f.reason : 'reconnect',
    afterMs: Math.round(Math.min(afterMs, maxAfterMs)),
  };
}
