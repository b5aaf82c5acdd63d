import { Socket, connect } from 'node:net';
import { SignJWT } from 'jose';
import { MsgOp } from '../../src/messaging/messaging.ops';
import {
  FrameDecoder,
  FrameError,
  HEADER_BYTES,
  encodeFrame,
} from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { openSocket } from './open-socket';
import { sleep } from './wait';

/**
 * The longlink protocol fuzzer: many connections throw random and mutated frames
 * (built with the real codec) at a running gateway, reconnecting whenever the
 * server closes one, and tally what was tried and what came back. Every
 * connection life draws its frames from its own PRNG stream derived from
 * (seed, lane, life), so a seed reproduces the same frames.
 *
 * Used by bench/fuzz/fuzz.ts (`npm run fuzz`) and test/fuzz.e2e-spec.ts. Also
 * exports HeartbeatProbe, the well-behaved client whose heartbeat round trips
 * the abuse specs and the fuzzer measure before and during an attack.
 */

// ---------------------------------------------------------------------------
// Seeded PRNG
// ---------------------------------------------------------------------------

/** splitmix32: spreads seeds and stream numbers over the state space. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export interface WeightTable<K extends string> {
  keys: K[];
  cumulative: number[];
  total: number;
}

/** Relative weights as a table for Rng.weighted (built once, drawn from per frame). */
export function weightTable<K extends string>(
  weights: Readonly<Record<K, number>>,
): WeightTable<K> {
  const keys: K[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const [k, w] of Object.entries(weights) as [K, number][]) {
    if (!(w > 0)) continue;
    total += w;
    keys.push(k);
    cumulative.push(total);
  }
  return { keys, cumulative, total };
}

/** sfc32, seeded from a seed and any number of stream ids (lane, life, …). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, ...streams: number[]) {
    let h = splitmix32(seed >>> 0);
    for (const s of streams) h = splitmix32(h ^ Math.imul(s + 1, 0x27d4eb2d));
    this.a = h;
    this.b = splitmix32(h ^ 0x1234567);
    this.c = splitmix32(h ^ 0x89abcdef);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A uint32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  /** [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** [lo, hi], inclusive. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** Favours small values: about half the draws are below lo + (hi - lo) / 16. */
  skewed(lo: number, hi: number): number {
    const f = this.float();
    return lo + Math.floor(f * f * f * f * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Picks from a weight table (see `weightTable`) with probability proportional to weight. */
  weighted<K extends string>(table: WeightTable<K>): K {
    const r = this.float() * table.total;
    const { keys, cumulative } = table;
    for (let i = 0; i < keys.length; i++) if (r < cumulative[i]) return keys[i];
    return keys[keys.length - 1];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.next();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (j * 8)) & 0xff;
    }
    return out;
  }

  /** Printable ASCII (and a few JSON-special characters) of length n. */
  text(n: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/"\\{}[],';
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

// ---------------------------------------------------------------------------
// Documented codes
// ---------------------------------------------------------------------------

export interface DocumentedCodes {
  /** Codes an ERROR body may carry (docs/PROTOCOL.md §5). */
  errors: ReadonlySet<string>;
  /** Reasons a KICK may carry (docs/PROTOCOL.md §4.4). */
  kicks: ReadonlySet<string>;
}

/** The first-column codes of the markdown table that follows `heading` in `markdown`. */
function tableCodes(markdown: string, heading: RegExp): Set<string> {
  const start = markdown.search(heading);
  if (start < 0) return new Set();
  const codes = new Set<string>();
  let inTable = false;
  for (const line of markdown.slice(start).split('\n').slice(1)) {
    const row = /^\|\s*`([a-z0-9-]+)`\s*\|/.exec(line);
    if (row) {
      inTable = true;
      codes.add(row[1]);
    } else if (inTable && !line.startsWith('|')) {
      break;
    }
  }
  return codes;
}

/** Reads the ERROR codes and KICK reasons docs/PROTOCOL.md documents (its tables). */
export function parseDocumentedCodes(protocolMarkdown: string): DocumentedCodes {
  return {
    errors: tableCodes(protocolMarkdown, /^## 5\. Error codes/m),
    kicks: tableCodes(protocolMarkdown, /^\| Reason \(`code`\)/m),
  };
}

// ---------------------------------------------------------------------------
// Latency probe (the well-behaved bystander)
// ---------------------------------------------------------------------------

export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** Percentiles of round trips in ms (nearest rank). */
export function latencyStats(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

export function formatStats(s: LatencyStats): string {
  return `p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(2)} ms (n=${s.count})`;
}

export interface ProbeOptions {
  port: number;
  host?: string;
  /** A login token; without one the probe stays logged out (HEARTBEAT is public). */
  token?: string;
  /** Source address (any of 127.0.0.0/8 on Linux). */
  localAddress?: string;
  /** A connected socket to use instead (e.g. a TLS socket). */
  socket?: Socket;
}

/**
 * A well-behaved logged-in client that measures HEARTBEAT round trips, one at a
 * time. `measure(n)` takes a baseline; `startBackground()` keeps sampling (and
 * keeps the connection alive) during an attack until `stopBackground()`.
 */
export class HeartbeatProbe {
  private readonly waiters = new Map<number, (frame: { op: number; body: Buffer }) => void>();
  private nextSeq = 1;
  private background: Promise<void> | null = null;
  private stopping = false;
  private samples: number[] = [];
  /** Heartbeats that got no answer within the timeout. */
  missed = 0;
  /** KICKs and ERRORs the server sent on this connection. */
  readonly problems: string[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => {
          if (op === Op.KICK || (op === Op.ERROR && seq === 0)) {
            this.problems.push(`${op === Op.KICK ? 'KICK' : 'ERROR'} ${body.toString('utf8')}`);
          }
          const waiter = this.waiters.get(seq);
          if (waiter && seq !== 0) {
            this.waiters.delete(seq);
            waiter({ op, body: Buffer.from(body) });
          }
        },
        onFrameError: (err: FrameError) => this.problems.push(`bad frame from server: ${err.code}`),
      },
      16 * 1024 * 1024,
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async open(options: ProbeOptions): Promise<HeartbeatProbe> {
    const socket =
      options.socket ??
      (await new Promise<Socket>((resolve, reject) => {
        const s = connect({
          port: options.port,
          host: options.host ?? '127.0.0.1',
          localAddress: options.localAddress,
          noDelay: true,
        });
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      }));
    const probe = new HeartbeatProbe(socket);
    if (options.token !== undefined) {
      const reply = await probe.request(Op.LOGIN, JSON.stringify({ token: options.token }), 5000);
      if (reply.op !== (Op.LOGIN | REPLY_FLAG) >>> 0) {
        socket.destroy();
        throw new Error(`probe login failed: ${reply.body.toString('utf8')}`);
      }
    }
    return probe;
  }

  /** Sends a request; resolves with its reply or ERROR, rejects on timeout or close. */
  request(op: number, body?: string, timeoutMs = 2000): Promise<{ op: number; body: Buffer }> {
    const seq = this.nextSeq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(seq);
        reject(new Error(`no answer to op ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(seq, (frame) => {
        clearTimeout(timer);
        resolve(frame);
      });
      this.socket.write(encodeFrame(op, seq, body));
    });
  }

  /** One HEARTBEAT round trip in ms. */
  async rtt(timeoutMs = 2000): Promise<number> {
    const t0 = process.hrtime.bigint();
    const reply = await this.request(Op.HEARTBEAT, undefined, timeoutMs);
    if (reply.op !== (Op.HEARTBEAT | REPLY_FLAG) >>> 0) {
      throw new Error(`HEARTBEAT answered with op ${reply.op}: ${reply.body.toString('utf8')}`);
    }
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }

  /** `count` sequential round trips, `gapMs` apart. */
  async measure(count: number, gapMs = 1): Promise<LatencyStats> {
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      samples.push(await this.rtt());
      if (gapMs > 0) await sleep(gapMs);
    }
    return latencyStats(samples);
  }

  /** Samples round trips every `gapMs` until stopBackground(); misses count, they do not throw. */
  startBackground(gapMs = 5, timeoutMs = 2000): void {
    if (this.background) return;
    this.stopping = false;
    this.samples = [];
    this.background = (async () => {
      while (!this.stopping && !this.closed) {
        try {
          this.samples.push(await this.rtt(timeoutMs));
        } catch {
          this.missed++;
        }
        await sleep(gapMs);
      }
    })();
  }

  async stopBackground(): Promise<LatencyStats> {
    this.stopping = true;
    await this.background;
    this.background = null;
    return latencyStats(this.samples);
  }

  close(): void {
    this.stopping = true;
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------
// Frame generation
// ---------------------------------------------------------------------------

/** How a batch ends the connection life (or not). */
type Ending =
  | { type: 'none' }
  /** A header the server must refuse: ERROR `code` seq 0, then close. */
  | { type: 'fatal'; code: string }
  /** A frame whose plen does not match its bytes: the stream is garbage from here on. */
  | { type: 'desync' }
  /** Part of a frame, then FIN. */
  | { type: 'truncate' }
  | { type: 'logout' }
  | { type: 'half-close' }
  | { type: 'abort' };

interface GeneratedFrame {
  kind: string;
  bytes: Buffer;
  /** The seq in the header, when the frame is a well-formed request we can match answers to. */
  seq?: number;
}

interface Batch {
  frames: GeneratedFrame[];
  ending: Ending;
  /** Written in small random pieces rather than in one write. */
  split: boolean;
}

interface LifeState {
  lane: number;
  nextSeq: number;
  loggedInAs: string | null;
  maxFrameBytes: number;
  maxPreLoginFrameBytes: number;
  tokens: TokenPool;
  kinds: WeightTable<FrameKind>;
}

export interface TokenPool {
  /** Valid tokens of this lane's own users (no other lane logs in as them). */
  own(lane: number, k: number): { uid: string; token: string };
  /** Valid tokens of users every lane shares (logins kick each other: relogin). */
  shared(k: number): { uid: string; token: string };
  /** Rejected tokens: forged, expired, alg none, no exp, malformed. */
  bad: readonly { kind: string; token: string }[];
  uids: readonly string[];
}

const OWN_USERS = 3;
const SHARED_USERS = 2;
/** clientMsgIds come from a small pool, so resends dedupe and stored messages stay bounded. */
const CLIENT_MSG_IDS = 24;

/** Deep JSON: nested arrays or objects, `depth` levels. */
function nested(rng: Rng, depth: number): string {
  if (rng.chance(0.5)) return '['.repeat(depth) + ']'.repeat(depth);
  return '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
}

/** A small random JSON value (content of valid SENDs). */
function smallJson(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 5 : 7)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.range(-1e6, 1e6);
    case 3:
      return rng.text(rng.skewed(0, 64));
    case 4:
      return rng.float() * 1e9;
    case 5:
      return Array.from({ length: rng.int(4) }, () => smallJson(rng, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--)
        out[rng.text(rng.range(1, 6))] = smallJson(rng, depth + 1);
      return out;
    }
  }
}

/** Values of the wrong type or out of range for a field. */
function wrongValue(rng: Rng, maxBytes: number): string {
  return rng.pick([
    'null',
    'true',
    '0',
    '-1',
    '1.5',
    '-0',
    '1e308',
    '18446744073709551616',
    '""',
    '"7"',
    '[]',
    '{}',
    '[1,2,3]',
    '{"$gt":""}',
    JSON.stringify('x'.repeat(Math.min(200, maxBytes))),
  ]);
}

/** Bytes that are not UTF-8: overlong forms, surrogates, stray continuation bytes, truncation. */
function invalidUtf8(rng: Rng): Buffer {
  return rng.pick([
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0x80]),
    Buffer.from([0xff]),
    Buffer.from([0xfe, 0xff]),
    Buffer.from([0xf4, 0x90, 0x80, 0x80]),
    Buffer.from([0xe2, 0x82]),
    Buffer.from([0xc3]),
  ]);
}

/** The header of a frame with every field chosen by the caller. */
function rawHeader(plen: number, hlen: number, ver: number, op: number, seq: number): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES);
  buf.writeUInt32BE(plen >>> 0, 0);
  buf.writeUInt16BE(hlen & 0xffff, 4);
  buf.writeUInt16BE(ver & 0xffff, 6);
  buf.writeUInt32BE(op >>> 0, 8);
  buf.writeUInt32BE(seq >>> 0, 12);
  return buf;
}

const KNOWN_OPS = [Op.LOGIN, Op.LOGOUT, Op.HEARTBEAT, MsgOp.SEND, MsgOp.PUSH_ACK, MsgOp.SYNC];
/** Ops whose bodies get mutated (LOGOUT only ever ends a life). */
const BODY_OPS = KNOWN_OPS.filter((o) => o !== Op.LOGOUT);
const NEEDS_LOGIN = new Set<number>([Op.LOGOUT, MsgOp.SEND, MsgOp.PUSH_ACK, MsgOp.SYNC]);

/** Body text of a valid request of `op`. */
function validBody(rng: Rng, st: LifeState, op: number): string | undefined {
  switch (op) {
    case Op.LOGIN: {
      const who = st.tokens.own(st.lane, rng.int(OWN_USERS));
      const body: Record<string, unknown> = { token: who.token };
      if (rng.chance(0.3)) body.lastSeq = rng.skewed(0, 100);
      return JSON.stringify(body);
    }
    case Op.HEARTBEAT:
      return rng.chance(0.8) ? undefined : '{}';
    case MsgOp.SEND:
      return JSON.stringify({
        to: rng.chance(0.9) ? rng.pick(st.tokens.uids) : `fuzz-sink-${rng.int(4)}`,
        clientMsgId: `m${rng.int(CLIENT_MSG_IDS)}`,
        content: smallJson(rng),
      });
    case MsgOp.PUSH_ACK:
      return rng.chance(0.7)
        ? JSON.stringify({ upTo: rng.skewed(0, 200) })
        : JSON.stringify({ seqs: Array.from({ length: rng.int(8) }, () => rng.range(1, 200)) });
    case MsgOp.SYNC:
      return JSON.stringify({ lastSeq: rng.skewed(0, 200) });
    default:
      return undefined;
  }
}

/** The field names each op's body has (for targeted mutations). */
const FIELDS: Record<number, readonly string[]> = {
  [Op.LOGIN]: ['token', 'lastSeq'],
  [MsgOp.SEND]: ['to', 'clientMsgId', 'content'],
  [MsgOp.PUSH_ACK]: ['upTo', 'seqs'],
  [MsgOp.SYNC]: ['lastSeq'],
  [Op.HEARTBEAT]: ['x'],
  [Op.LOGOUT]: ['x'],
};

/** A body of `op` where one field holds `valueJson` (the others valid where possible). */
function bodyWith(rng: Rng, st: LifeState, op: number, field: string, valueJson: string): string {
  const base = validBody(rng, st, op);
  const obj = base === undefined ? {} : (JSON.parse(base) as Record<string, unknown>);
  delete obj[field];
  const rest = JSON.stringify(obj);
  const inner = rest === '{}' ? '' : `${rest.slice(1, -1)},`;
  return `{${inner}${JSON.stringify(field)}:${valueJson}}`;
}

const FRAME_KINDS = {
  'valid-login': 2,
  'valid-heartbeat': 10,
  'valid-send': 14,
  'valid-push-ack': 5,
  'valid-sync': 4,
  'login-shared-user': 1,
  'login-bad-token': 4,
  'body-wrong-type': 10,
  'body-missing-field': 4,
  'body-extra-fields': 4,
  'body-json-scalar': 3,
  'body-invalid-json': 6,
  'body-invalid-utf8': 5,
  'body-random-bytes': 3,
  // Rare: each one may cost the server real CPU (see docs/SECURITY.md, "deeply nested bodies").
  'body-deep-nesting': 0.05,
  'body-huge-string': 1,
  'op-unknown': 5,
  'op-server-only': 2,
  'seq-extreme': 2,
} as const;
export type FrameKind = keyof typeof FRAME_KINDS;

const ENDINGS = {
  none: 90,
  'header-plen-too-small': 1,
  'header-plen-too-large': 1,
  'header-bad-hlen': 1,
  'header-bad-version': 1,
  'header-several-bad': 0.6,
  'length-longer-than-body': 1,
  'length-shorter-than-body': 1,
  'truncated-header': 0.6,
  'truncated-body': 0.8,
  logout: 0.8,
  'half-close': 0.6,
  abort: 0.6,
} as const;
type EndingKind = keyof typeof ENDINGS;
const ENDING_TABLE = weightTable(ENDINGS);

/**
 * The frame limit the server applies to the next frame: maxPreLoginFrameBytes
 * until the LOGIN reply came (frames sent before it count as before login).
 */
function frameLimit(st: LifeState): number {
  return st.loggedInAs === null ? st.maxPreLoginFrameBytes : st.maxFrameBytes;
}

/** One in-sync frame of kind `kind` (the stream stays frame-aligned). */
function makeFrame(rng: Rng, st: LifeState, kind: FrameKind): GeneratedFrame {
  const seq = st.nextSeq++;
  const max = frameLimit(st);
  const op = rng.pick(BODY_OPS);
  const frame = (o: number, body?: string | Buffer, s = seq): GeneratedFrame => {
    let bytes = encodeFrame(o, s, body);
    // A body generator may overshoot the frame limit: cut it (it becomes invalid JSON).
    if (bytes.length > max) {
      bytes = Buffer.from(bytes.subarray(0, max));
      bytes.writeUInt32BE(max, 0);
    }
    let k: string = kind;
    if (kind.startsWith('valid-') && NEEDS_LOGIN.has(o) && st.loggedInAs === null) {
      k = 'op-out-of-order';
    }
    return { kind: k, bytes, seq: s };
  };
  switch (kind) {
    case 'valid-login': {
      // A second LOGIN as another user on a logged-in connection: already-logged-in.
      const body = validBody(rng, st, Op.LOGIN)!;
      return frame(Op.LOGIN, body);
    }
    case 'valid-heartbeat':
      return frame(Op.HEARTBEAT, validBody(rng, st, Op.HEARTBEAT));
    case 'valid-send':
      return frame(MsgOp.SEND, validBody(rng, st, MsgOp.SEND));
    case 'valid-push-ack':
      return frame(MsgOp.PUSH_ACK, validBody(rng, st, MsgOp.PUSH_ACK));
    case 'valid-sync':
      return frame(MsgOp.SYNC, validBody(rng, st, MsgOp.SYNC));
    case 'login-shared-user':
      return frame(
        Op.LOGIN,
        JSON.stringify({ token: st.tokens.shared(rng.int(SHARED_USERS)).token }),
      );
    case 'login-bad-token': {
      const bad = rng.pick(st.tokens.bad);
      return {
        ...frame(Op.LOGIN, JSON.stringify({ token: bad.token })),
        kind: `login-${bad.kind}`,
      };
    }
    case 'body-wrong-type': {
      const field = rng.pick(FIELDS[op]);
      return frame(op, bodyWith(rng, st, op, field, wrongValue(rng, max)));
    }
    case 'body-missing-field': {
      const base = JSON.parse(validBody(rng, st, op) ?? '{}') as Record<string, unknown>;
      delete base[rng.pick(FIELDS[op])];
      return frame(op, JSON.stringify(base));
    }
    case 'body-extra-fields': {
      // Spoofed identities and prototype-pollution keys: ignored / stripped.
      const extra = rng.pick([
        '"from":"fuzz-spoofed"',
        '"uid":"fuzz-spoofed","sub":"fuzz-spoofed"',
        '"__proto__":{"fuzzPolluted":true}',
        '"constructor":{"prototype":{"fuzzPolluted":true}}',
        `"${rng.text(8).replace(/["\\]/g, '')}":${JSON.stringify(smallJson(rng))}`,
      ]);
      const base = validBody(rng, st, op) ?? '{}';
      const body = base === '{}' ? `{${extra}}` : `${base.slice(0, -1)},${extra}}`;
      return frame(op, body);
    }
    case 'body-json-scalar':
      return frame(op, rng.pick(['null', '0', '"x"', 'true', '[]', '[{}]', '-1e999', '"\\u0000"']));
    case 'body-invalid-json': {
      const base = validBody(rng, st, op) ?? '{"a":1}';
      const cut = rng.pick([
        () => base.slice(0, rng.int(base.length)),
        () => base + rng.pick(['x', ',', '}', ' {}', '\u0000']),
        () => base.replace(/"/g, "'"),
        () => base.replace(/[:,]/, ''),
        () => rng.pick(['{', '[1,]', '{"a":}', 'NaN', 'undefined', '{"a":1,}', '01', '"\\x"']),
      ])();
      return frame(op, cut.length === 0 ? '{' : cut);
    }
    case 'body-invalid-utf8': {
      const base = Buffer.from(validBody(rng, st, op) ?? '{"a":"b"}');
      // Into a string value if there is one, so only the UTF-8 is wrong.
      const quote = base.indexOf('"', base.indexOf(':'));
      const at = quote > 0 ? quote + 1 : rng.int(base.length);
      return frame(op, Buffer.concat([base.subarray(0, at), invalidUtf8(rng), base.subarray(at)]));
    }
    case 'body-random-bytes':
      return frame(op, rng.bytes(rng.range(1, 256)));
    case 'body-deep-nesting': {
      const room = Math.floor((max - HEADER_BYTES - 64) / 6);
      const depth = Math.max(2, Math.min(room, rng.pick([8, 64, 512, 2048, 8192, 30000])));
      const deep = nested(rng, rng.range(Math.ceil(depth / 2), depth));
      if (rng.chance(0.25)) return frame(op, deep);
      return frame(op, bodyWith(rng, st, op, rng.pick(FIELDS[op]), deep));
    }
    case 'body-huge-string': {
      const room = max - HEADER_BYTES - 128;
      if (room < 16) return frame(op, '"x"');
      const size = rng.skewed(Math.min(1024, room), room);
      const field = rng.pick(FIELDS[op]);
      // Accepted content stays small enough that stored messages cannot add up.
      const limit = op === MsgOp.SEND && field === 'content' ? Math.min(size, 4096) : size;
      return frame(op, bodyWith(rng, st, op, field, JSON.stringify('h'.repeat(limit))));
    }
    case 'op-unknown': {
      const unknown = rng.pick([
        0,
        rng.range(7, 15),
        rng.range(20, 999),
        rng.range(1000, 70000),
        0x7fffffff,
        (REPLY_FLAG | rng.pick([1, 3, 16])) >>> 0,
        0xffffffff,
      ]);
      return frame(unknown, rng.chance(0.5) ? undefined : JSON.stringify(smallJson(rng)));
    }
    case 'op-server-only':
      // Ops only the server sends: KICK, ERROR, RECONNECT, MSG.
      return frame(rng.pick([Op.KICK, Op.ERROR, Op.RECONNECT, MsgOp.MSG]), '{"code":"x"}');
    case 'seq-extreme': {
      const f = frame(Op.HEARTBEAT, undefined, rng.pick([0xffffffff, 0x80000000]));
      return { ...f, seq: undefined };
    }
  }
}

/** The last frames of a batch that ends the life (fatal header, desync, truncation…). */
function makeEnding(
  rng: Rng,
  st: LifeState,
  kind: EndingKind,
): { frames: GeneratedFrame[]; ending: Ending } {
  const max = frameLimit(st);
  const seq = st.nextSeq++;
  const op = rng.pick(KNOWN_OPS);
  const one = (k: string, bytes: Buffer, ending: Ending) => ({
    frames: [{ kind: k, bytes }],
    ending,
  });
  switch (kind) {
    case 'none':
      return { frames: [], ending: { type: 'none' } };
    case 'header-plen-too-small':
      return one(kind, rawHeader(rng.range(0, 15), 16, 1, op, seq), {
        type: 'fatal',
        code: 'frame-too-small',
      });
    case 'header-plen-too-large': {
      const plen = rng.chance(0.5) ? max + 1 : rng.range(max + 1, 0xffffffff);
      return one(kind, rawHeader(plen, 16, 1, op, seq), { type: 'fatal', code: 'frame-too-large' });
    }
    case 'header-bad-hlen': {
      const hlen = rng.pick([0, 15, 17, 32, 0xffff, rng.range(0, 0xffff)]);
      const h = hlen === 16 ? 17 : hlen;
      return one(kind, rawHeader(16, h, 1, op, seq), { type: 'fatal', code: 'bad-header-length' });
    }
    case 'header-bad-version': {
      const v = rng.pick([0, 2, 0x100, 0xffff, rng.range(2, 0xffff)]);
      return one(kind, rawHeader(16, 16, v, op, seq), {
        type: 'fatal',
        code: 'unsupported-version',
      });
    }
    case 'header-several-bad': {
      // The checks run in a fixed order: plen < 16, plen > max, hlen, version.
      const small = rng.chance(0.3);
      const large = !small && rng.chance(0.4);
      const plen = small ? rng.range(0, 15) : large ? max + rng.range(1, 1000) : 16;
      const hlen = rng.chance(0.7) ? rng.pick([0, 8, 20]) : 16;
      const ver = hlen === 16 || rng.chance(0.7) ? rng.pick([0, 2, 9]) : 1;
      const code = small
        ? 'frame-too-small'
        : large
          ? 'frame-too-large'
          : hlen !== 16
            ? 'bad-header-length'
            : 'unsupported-version';
      return one(kind, rawHeader(plen, hlen, ver, op, seq), { type: 'fatal', code });
    }
    case 'length-longer-than-body':
    case 'length-shorter-than-body': {
      const body = Buffer.from(validBody(rng, st, op) ?? JSON.stringify({ pad: rng.text(40) }));
      const real = HEADER_BYTES + body.length;
      const plen =
        kind === 'length-longer-than-body'
          ? Math.min(max, real + rng.range(1, 4096))
          : Math.max(HEADER_BYTES, real - rng.range(1, body.length));
      const bytes = Buffer.concat([rawHeader(plen, 16, 1, op, seq), body, rng.bytes(rng.int(64))]);
      return one(kind, bytes, { type: 'desync' });
    }
    case 'truncated-header':
      return one(kind, encodeFrame(op, seq, validBody(rng, st, op)).subarray(0, rng.range(1, 15)), {
        type: 'truncate',
      });
    case 'truncated-body': {
      const f = encodeFrame(op, seq, JSON.stringify({ pad: rng.text(rng.range(2, 300)) }));
      return one(kind, f.subarray(0, rng.range(HEADER_BYTES, f.length - 1)), { type: 'truncate' });
    }
    case 'logout':
      return {
        frames: [{ kind: 'logout', bytes: encodeFrame(Op.LOGOUT, seq), seq }],
        ending: { type: 'logout' },
      };
    case 'half-close':
      return { frames: [], ending: { type: 'half-close' } };
    case 'abort':
      return { frames: [], ending: { type: 'abort' } };
  }
}

function makeBatch(rng: Rng, st: LifeState, endingAllowed: boolean, size: number): Batch {
  const frames: GeneratedFrame[] = [];
  for (let i = 0; i < size; i++) frames.push(makeFrame(rng, st, rng.weighted(st.kinds)));
  const endKind = endingAllowed ? rng.weighted(ENDING_TABLE) : 'none';
  const end = makeEnding(rng, st, endKind);
  frames.push(...end.frames);
  return { frames, ending: end.ending, split: rng.chance(0.08) };
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

export interface FuzzOptions {
  port: number;
  host?: string;
  /** Frames to send in all (requests, sentinels and broken frames alike). */
  frames: number;
  /** Concurrent connections (lanes); each reconnects when its connection ends. */
  connections?: number;
  seed?: number;
  /** Secret of the gateway's HS256 tokens, to mint valid logins. */
  jwtSecret: string;
  jwtIssuer?: string | null;
  jwtAudience?: string | null;
  /** The gateway's server.maxFrameBytes (default 65536). */
  maxFrameBytes?: number;
  /** The gateway's server.maxPreLoginFrameBytes (default 8192). */
  maxPreLoginFrameBytes?: number;
  /** When given, ERROR and KICK codes outside these sets are failures. */
  documented?: DocumentedCodes;
  /** Time allowed for an answer the protocol promises (sentinels, closes). Default 10 s. */
  answerTimeoutMs?: number;
  /** Called about once a second. */
  onProgress?: (progress: FuzzProgress) => void;
  /** Source address of the fuzzing connections. */
  localAddress?: string;
  /** Stop starting new batches after this long, even if frames are left (a time-boxed run). */
  timeLimitMs?: number;
  /** Overrides of the relative weights of frame kinds (0 disables a kind). */
  weights?: Partial<Record<FrameKind, number>>;
  /**
   * The gateway keeps its abuse limits (rate limit, connect-rate cap, failed-login ban):
   * a connection closed before the server sent a byte was refused at accept, and
   * ERROR ip-banned with seq 0 (a ban closing the address's other connections) is
   * expected. Neither is then a failure. Off by default: with the limits lifted both
   * would be bugs.
   */
  limitsApply?: boolean;
}

export interface FuzzProgress {
  framesSent: number;
  bytesSent: number;
  elapsedMs: number;
  lives: number;
  failures: number;
}

export interface FuzzFailure {
  message: string;
  lane: number;
  life: number;
  /** Kinds of the last frames of the life, oldest first. */
  recentKinds: string[];
  /** The frame the failure is about, hex (first 256 bytes), when known. */
  frameHex?: string;
}

export interface FuzzReport {
  seed: number;
  frames: number;
  connections: number;
  framesSent: number;
  bytesSent: number;
  durationMs: number;
  /** Connections opened (each a "life" of a lane). */
  lives: number;
  loginsAccepted: number;
  /** Frames sent per kind. */
  sentByKind: Record<string, number>;
  /** Per frame kind, what answered it: `reply`, an ERROR code, or `none` (no answer before the life ended). */
  outcomesByKind: Record<string, Record<string, number>>;
  errors: Record<string, number>;
  kicks: Record<string, number>;
  replies: number;
  pushes: number;
  /** How lives ended. */
  closes: Record<string, number>;
  failures: FuzzFailure[];
  /** The time limit ended the run before every frame was sent. */
  timedOut: boolean;
}

function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

/** Tokens for every lane's own users, shared users, and a set of bad ones. */
async function mintTokens(options: FuzzOptions, lanes: number): Promise<TokenPool> {
  const secret = new TextEncoder().encode(options.jwtSecret);
  const sign = (uid: string, tweak?: (jwt: SignJWT) => SignJWT, key = secret) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(uid).setIssuedAt();
    if (options.jwtIssuer) jwt = jwt.setIssuer(options.jwtIssuer);
    if (options.jwtAudience) jwt = jwt.setAudience(options.jwtAudience);
    jwt = tweak ? tweak(jwt) : jwt.setExpirationTime('2h');
    return jwt.sign(key);
  };
  const own: { uid: string; token: string }[][] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const users: { uid: string; token: string }[] = [];
    for (let k = 0; k < OWN_USERS; k++) {
      const uid = `fuzz-${lane}-${k}`;
      users.push({ uid, token: await sign(uid) });
    }
    own.push(users);
  }
  const shared: { uid: string; token: string }[] = [];
  for (let k = 0; k < SHARED_USERS; k++) {
    const uid = `fuzz-shared-${k}`;
    shared.push({ uid, token: await sign(uid) });
  }
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const bad = [
    {
      kind: 'forged',
      token: await sign(
        'fuzz-forged',
        undefined,
        new TextEncoder().encode('not-the-secret-0123456789abcdef'),
      ),
    },
    { kind: 'expired', token: await sign('fuzz-expired', (j) => j.setExpirationTime(now - 60)) },
    { kind: 'no-exp', token: await sign('fuzz-no-exp', (j) => j) },
    {
      kind: 'not-yet-valid',
      token: await sign('fuzz-nbf', (j) => j.setExpirationTime('2h').setNotBefore(now + 3600)),
    },
    {
      kind: 'alg-none',
      token: `${b64({ alg: 'none' })}.${b64({ sub: 'fuzz-none', exp: now + 3600 })}.`,
    },
    { kind: 'malformed', token: 'a.b.c' },
    { kind: 'garbage', token: 'x'.repeat(300) },
  ];
  const uids = [...own.flat().map((u) => u.uid), ...shared.map((u) => u.uid)];
  return {
    own: (lane, k) => own[lane % own.length][k % OWN_USERS],
    shared: (k) => shared[k % SHARED_USERS],
    bad,
    uids,
  };
}

interface Answer {
  op: number;
  seq: number;
  body: Buffer;
}

/** One fuzzing connection: records every frame the server sends, flags malformed ones. */
class FuzzSocket {
  readonly answers: Answer[] = [];
  closed = false;
  /** Bytes received in all. */
  received = 0;
  readonly closedPromise: Promise<void>;
  private waiters: (() => void)[] = [];
  readonly protocolErrors: string[] = [];

  constructor(readonly socket: Socket) {
    const decoder = new FrameDecoder(
      {
        onFrame: (op, seq, body) => {
          this.answers.push({ op, seq, body: Buffer.from(body) });
          this.wake();
        },
        onFrameError: (err: FrameError) => {
          this.protocolErrors.push(`server sent a malformed frame (${err.code}: ${err.message})`);
        },
      },
      64 * 1024 * 1024,
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      decoder.push(chunk);
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `done()` holds, the socket closes, or after timeoutMs: which of them. */
  waitUntil(done: () => boolean, timeoutMs: number): Promise<'done' | 'closed' | 'timeout'> {
    return new Promise((resolve) => {
      const check = () => {
        if (done()) return finish('done');
        if (this.closed) return finish('closed');
        this.waiters.push(check);
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      let settled = false;
      const finish = (r: 'done' | 'closed' | 'timeout') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      check();
    });
  }

  /** Resolves when an answer with `seq` arrived at or after index `from`, or the socket closed. */
  waitForSeq(seq: number, from: number, timeoutMs: number): Promise<'done' | 'closed' | 'timeout'> {
    let scan = from;
    return this.waitUntil(() => {
      for (; scan < this.answers.length; scan++) if (this.answers[scan].seq === seq) return true;
      return false;
    }, timeoutMs);
  }

  /** Writes with backpressure. */
  async write(bytes: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return;
    if (!this.socket.write(bytes)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.on('drain', done);
        this.socket.on('close', done);
      });
    }
  }
}

/** Sentinel seqs live in their own range, so they never collide with generated ones. */
const SENTINEL_BASE = 0x7f000000;

/**
 * Runs the fuzzer until `frames` frames were sent (or a fatal failure: the
 * server stopped accepting connections or stopped answering). Never throws for
 * what the server does; everything is in the report.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = (options.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
  const lanes = options.connections ?? 32;
  const maxFrameBytes = options.maxFrameBytes ?? 65536;
  const maxPreLoginFrameBytes = Math.min(options.maxPreLoginFrameBytes ?? 8192, maxFrameBytes);
  const answerTimeoutMs = options.answerTimeoutMs ?? 10000;
  const tokens = await mintTokens(options, lanes);
  const kinds = weightTable({ ...FRAME_KINDS, ...options.weights } as Record<FrameKind, number>);
  const report: FuzzReport = {
    seed,
    frames: options.frames,
    connections: lanes,
    framesSent: 0,
    bytesSent: 0,
    durationMs: 0,
    lives: 0,
    loginsAccepted: 0,
    sentByKind: {},
    outcomesByKind: {},
    errors: {},
    kicks: {},
    replies: 0,
    pushes: 0,
    closes: {},
    failures: [],
    timedOut: false,
  };
  let budget = options.frames;
  let aborted = false;
  const started = Date.now();
  let lastProgressFrames = -1;
  let stalledSince = Date.now();

  const outcome = (kind: string, what: string) => {
    const m = (report.outcomesByKind[kind] ??= {});
    m[what] = (m[what] ?? 0) + 1;
  };

  const progressTimer = setInterval(() => {
    const elapsedMs = Date.now() - started;
    options.onProgress?.({
      framesSent: report.framesSent,
      bytesSent: report.bytesSent,
      elapsedMs,
      lives: report.lives,
      failures: report.failures.length,
    });
    if (report.framesSent !== lastProgressFrames) {
      lastProgressFrames = report.framesSent;
      stalledSince = Date.now();
    } else if (Date.now() - stalledSince > answerTimeoutMs * 2 && !aborted) {
      aborted = true;
      report.failures.push({
        message: `no progress for ${answerTimeoutMs * 2} ms: the server stopped serving`,
        lane: -1,
        life: -1,
        recentKinds: [],
      });
    }
  }, 1000);
  progressTimer.unref();

  let limit: NodeJS.Timeout | undefined;
  if (options.timeLimitMs !== undefined) {
    limit = setTimeout(() => {
      report.timedOut = budget > 0;
      budget = 0;
    }, options.timeLimitMs);
    limit.unref();
  }

  async function lane(index: number): Promise<void> {
    for (let life = 0; budget > 0 && !aborted; life++) {
      await runLife(index, life);
    }
  }

  async function runLife(laneIndex: number, life: number): Promise<void> {
    const rng = new Rng(seed, laneIndex, life);
    const sent: GeneratedFrame[] = [];
    const bySeq = new Map<number, GeneratedFrame>();
    const fail = (message: string, frame?: GeneratedFrame) => {
      report.failures.push({
        message,
        lane: laneIndex,
        life,
        recentKinds: sent.slice(-12).map((f) => f.kind),
        frameHex: frame ? frame.bytes.subarray(0, 256).toString('hex') : undefined,
      });
    };
    let socket: Socket;
    try {
      socket = await openSocket(options, answerTimeoutMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') {
        if (!aborted) fail('connection refused: the server is not listening any more');
        aborted = true;
      } else {
        bump(report.closes, `connect-error-${code ?? 'other'}`);
        await sleep(20);
      }
      return;
    }
    report.lives++;
    const conn = new FuzzSocket(socket);
    let seen = 0;
    let inSync = true;
    let expectedFatal: string | null = null;
    const st: LifeState = {
      lane: laneIndex,
      nextSeq: rng.range(1, 1000),
      loggedInAs: null,
      maxFrameBytes,
      maxPreLoginFrameBytes,
      tokens,
      kinds,
    };

    /** Tallies frames received since the last call. */
    const absorb = () => {
      for (; seen < conn.answers.length; seen++) {
        const a = conn.answers[seen];
        if (a.op === MsgOp.MSG && a.seq === 0) {
          report.pushes++;
          continue;
        }
        if (a.op === Op.KICK || a.op === Op.ERROR) {
          let body: { code?: unknown; message?: unknown } = {};
          try {
            body = JSON.parse(a.body.toString('utf8')) as typeof body;
          } catch {
            fail(
              `${a.op === Op.KICK ? 'KICK' : 'ERROR'} body is not JSON: ${a.body.toString('hex').slice(0, 80)}`,
            );
          }
          if (typeof body.code !== 'string' || typeof body.message !== 'string') {
            fail(
              `${a.op === Op.KICK ? 'KICK' : 'ERROR'} body lacks code/message: ${a.body.toString('utf8').slice(0, 200)}`,
            );
            continue;
          }
          const code = body.code;
          if (a.op === Op.KICK) {
            bump(report.kicks, code);
            if (options.documented && !options.documented.kicks.has(code)) {
              fail(`undocumented KICK reason ${code}: ${body.message}`);
            }
            continue;
          }
          bump(report.errors, code);
          if (options.documented && !options.documented.errors.has(code)) {
            fail(`undocumented ERROR code ${code}: ${body.message}`, bySeq.get(a.seq));
          }
          const frame = bySeq.get(a.seq);
          if (frame) {
            outcome(frame.kind, code);
            bySeq.delete(a.seq);
          }
          if (code === 'internal-error') {
            fail(`ERROR internal-error answered a client frame (${body.message})`, frame);
          }
          if (a.seq === 0 && !frame) {
            if (options.limitsApply && code === 'ip-banned') {
              // The address was banned meanwhile: its connections not logged in are closed.
            } else if (expectedFatal === null && inSync) {
              fail(
                `ERROR ${code} seq 0 (stream declared broken) though every frame was well-formed`,
              );
            } else if (expectedFatal !== null && inSync && code !== expectedFatal) {
              fail(
                `broken header answered ${code}, expected ${expectedFatal}`,
                sent[sent.length - 1],
              );
            }
          }
          continue;
        }
        if (a.op === Op.RECONNECT) {
          bump(report.closes, 'reconnect-pdu');
          continue;
        }
        if (a.op & REPLY_FLAG) {
          report.replies++;
          const frame = bySeq.get(a.seq);
          if (frame) {
            outcome(frame.kind, 'reply');
            bySeq.delete(a.seq);
            if ((a.op & ~REPLY_FLAG) === Op.LOGIN) {
              try {
                const uid = (JSON.parse(a.body.toString('utf8')) as { uid?: string }).uid;
                if (uid) {
                  st.loggedInAs = uid;
                  report.loginsAccepted++;
                }
              } catch {
                fail('LOGIN reply body is not JSON', frame);
              }
            }
          }
          continue;
        }
        // Anything else is an application push; nothing to check.
      }
      if (conn.protocolErrors.length > 0) {
        for (const e of conn.protocolErrors.splice(0)) fail(e);
      }
    };

    /** How the server answered a frame that broke the stream: its ERROR seq 0 code, or the close. */
    const streamOutcome = (): string => {
      const fatal = conn.answers.find((a) => a.op === Op.ERROR && a.seq === 0);
      if (fatal) {
        try {
          return String((JSON.parse(fatal.body.toString('utf8')) as { code?: unknown }).code);
        } catch {
          return 'error-unparseable';
        }
      }
      if (conn.answers.some((a) => a.op === Op.KICK)) return 'kicked';
      return conn.closed ? 'closed' : 'open';
    };

    const send = async (frames: GeneratedFrame[], split: boolean) => {
      for (const f of frames) {
        sent.push({ kind: f.kind, bytes: f.bytes.subarray(0, 256), seq: f.seq });
        if (sent.length > 64) sent.shift();
        if (f.seq !== undefined)
          bySeq.set(f.seq, { kind: f.kind, bytes: f.bytes.subarray(0, 256) });
        bump(report.sentByKind, f.kind);
        report.framesSent++;
        report.bytesSent += f.bytes.length;
      }
      const all = Buffer.concat(frames.map((f) => f.bytes));
      if (!split) return conn.write(all);
      for (let off = 0; off < all.length && !conn.closed;) {
        const n = rng.range(1, 64);
        await conn.write(all.subarray(off, off + n));
        off += n;
        if (rng.chance(0.2)) await new Promise((r) => setImmediate(r));
      }
    };

    const closeAndWait = async (why: string) => {
      socket.end();
      const r = await conn.waitUntil(() => false, answerTimeoutMs);
      absorb();
      if (r === 'timeout')
        fail(`server kept the connection open ${answerTimeoutMs} ms after ${why}`);
      socket.destroy();
    };

    try {
      // Most lives log in first, so the ops that need login get past the login check.
      if (rng.chance(0.75) && budget > 0) {
        budget--;
        const login = makeFrame(rng, st, 'valid-login');
        const mark = conn.answers.length;
        await send([login], false);
        await conn.waitForSeq(login.seq!, mark, answerTimeoutMs);
        absorb();
      }
      const lifeFrames = rng.skewed(4, 3000);
      let lifeSent = 0;
      while (!conn.closed && !aborted && budget > 0) {
        const size = Math.min(rng.skewed(1, 48), budget);
        budget -= size;
        const batch = makeBatch(rng, st, lifeSent + size >= lifeFrames || rng.chance(0.01), size);
        lifeSent += batch.frames.length;
        const ending = batch.ending;
        if (ending.type === 'fatal') expectedFatal = ending.code;
        if (ending.type === 'desync' || ending.type === 'truncate') inSync = false;
        const batchMark = conn.answers.length;
        await send(batch.frames, batch.split && ending.type === 'none');
        absorb();
        if (ending.type === 'none') {
          const seq = SENTINEL_BASE + (lifeSent % 0xffffff);
          const sentinel = {
            kind: 'sentinel-heartbeat',
            bytes: encodeFrame(Op.HEARTBEAT, seq),
            seq,
          };
          budget--;
          const mark = conn.answers.length;
          await send([sentinel], false);
          const r = await conn.waitForSeq(seq, mark, answerTimeoutMs);
          absorb();
          if (r === 'timeout') {
            fail(`no answer to a HEARTBEAT within ${answerTimeoutMs} ms`, sentinel);
            break;
          }
          if (r === 'closed') {
            bump(report.closes, 'closed-by-server');
            break;
          }
          continue;
        }
        // The life ends here.
        bump(report.closes, `ending-${ending.type}`);
        const endFrame = batch.frames[batch.frames.length - 1];
        if (ending.type === 'fatal') {
          const r = await conn.waitUntil(() => false, answerTimeoutMs);
          absorb();
          if (r === 'timeout') {
            fail(
              `server did not close after a broken header (${ending.code})`,
              sent[sent.length - 1],
            );
          } else {
            const fatal = conn.answers.some((a) => a.op === Op.ERROR && a.seq === 0);
            const kicked = conn.answers.some((a) => a.op === Op.KICK);
            if (!fatal && !kicked && options.limitsApply && conn.received === 0) {
              bump(report.closes, 'refused-at-accept');
            } else if (!fatal && !kicked) {
              fail(
                `closed without ERROR ${ending.code} after a broken header`,
                sent[sent.length - 1],
              );
            }
          }
        } else if (ending.type === 'desync') {
          await conn.waitUntil(() => false, 100);
          await closeAndWait('a desynchronised stream and FIN');
        } else if (ending.type === 'truncate') {
          await closeAndWait('half a frame and FIN');
        } else if (ending.type === 'logout') {
          const logout = batch.frames[batch.frames.length - 1];
          const r = await conn.waitForSeq(logout.seq!, batchMark, answerTimeoutMs);
          const answer = conn.answers.find((a, i) => i >= batchMark && a.seq === logout.seq);
          absorb();
          if (r === 'timeout') fail(`no answer to LOGOUT within ${answerTimeoutMs} ms`, logout);
          if (answer && answer.op === (Op.LOGOUT | REPLY_FLAG) >>> 0) {
            // Logged out: the server closes on its own.
            const closed = await conn.waitUntil(() => false, answerTimeoutMs);
            absorb();
            if (closed === 'timeout') fail(`still open ${answerTimeoutMs} ms after a LOGOUT reply`);
          } else if (!conn.closed) {
            await closeAndWait('a refused LOGOUT and FIN');
          }
        } else if (ending.type === 'half-close') {
          await closeAndWait('FIN');
        } else {
          socket.destroy();
        }
        // Broken headers, mismatched lengths and cut frames: what the server made of the stream.
        const broke =
          ending.type === 'fatal' || ending.type === 'desync' || ending.type === 'truncate';
        if (broke && endFrame) outcome(endFrame.kind, streamOutcome());
        break;
      }
      if (!conn.closed && !aborted) {
        // Budget spent mid-life: leave politely.
        await closeAndWait('FIN at the end of the run');
      }
    } finally {
      absorb();
      for (const f of bySeq.values()) outcome(f.kind, 'none');
      socket.destroy();
    }
  }

  await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
  clearInterval(progressTimer);
  clearTimeout(limit);
  report.durationMs = Date.now() - started;
  return report;
}

/** A human-readable report: what was tried, what came back, failures with the seed. */
export function formatFuzzReport(r: FuzzReport): string {
  const lines: string[] = [];
  const secs = r.durationMs / 1000;
  lines.push(
    `fuzz: seed ${r.seed}, ${r.framesSent} frames (${(r.bytesSent / 1048576).toFixed(1)} MiB) over ${r.lives} connections (${r.connections} at a time) in ${secs.toFixed(1)} s: ${Math.round(r.framesSent / Math.max(secs, 0.001))} frames/s`,
  );
  if (r.timedOut) lines.push(`  stopped by the time limit before ${r.frames} frames`);
  lines.push(`  logins accepted ${r.loginsAccepted}, replies ${r.replies}, MSG pushes ${r.pushes}`);
  const sorted = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  lines.push(`  ERROR codes: ${sorted(r.errors) || 'none'}`);
  lines.push(`  KICK reasons: ${sorted(r.kicks) || 'none'}`);
  lines.push(`  lives ended: ${sorted(r.closes) || 'none'}`);
  lines.push('  frames sent by kind → answers:');
  for (const [kind, n] of Object.entries(r.sentByKind).sort((a, b) => b[1] - a[1])) {
    const o = r.outcomesByKind[kind];
    lines.push(`    ${kind.padEnd(26)} ${String(n).padStart(9)}   ${o ? sorted(o) : ''}`);
  }
  if (r.failures.length === 0) {
    lines.push('  failures: none');
  } else {
    lines.push(`  FAILURES: ${r.failures.length} (seed ${r.seed})`);
    const byMessage = new Map<string, FuzzFailure[]>();
    for (const f of r.failures) {
      const key = f.message.replace(/\d+/g, 'N');
      byMessage.set(key, [...(byMessage.get(key) ?? []), f]);
    }
    for (const group of byMessage.values()) {
      const f = group[0];
      lines.push(`    ${group.length}× ${f.message}`);
      lines.push(
        `       first at lane ${f.lane} life ${f.life}; last kinds: ${f.recentKinds.join(' ')}`,
      );
      if (f.frameHex)
        lines.push(
          `       frame: ${f.frameHex.slice(0, 160)}${f.frameHex.length > 160 ? '…' : ''}`,
        );
    }
  }
  return lines.join('\n');
}
