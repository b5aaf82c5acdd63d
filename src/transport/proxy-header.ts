import { isIP } from 'node:net';

/**
 * The PROXY protocol header a load balancer writes before the client's bytes, naming the
 * client (haproxy.org/download/2.9/doc/proxy-protocol.txt, versions 1 and 2). Written by hand
 * because it runs on every connection before anything else: pure, never throws, reads no byte
 * past the header's cap (PROXY_HEADER_MAX_BYTES) and copies nothing. Only index reads and
 * `length` are used, so any Uint8Array (a Buffer) will do.
 */

/** What the listener expects: that version only (the header is required), or either, optional. */
export type ProxyHeaderExpect = 'v1' | 'v2' | 'auto';

/** The client a header names. */
export interface ProxySource {
  readonly address: string;
  readonly port: number;
}

/** Why a header is refused; stable strings, counted in metrics. */
export type ProxyHeaderProblem =
  /** v1/v2: the stream does not start with that version's signature. */
  | 'missing-header'
  /** v1/v2: the other version's header (a balancer set up for the other one). */
  | 'wrong-version'
  /** A signature, then bytes the spec does not allow. */
  | 'bad-header'
  /** Longer than the cap: v1 over 107 bytes, v2 announcing more than 4096 bytes after its 16. */
  | 'header-too-large'
  /** v2 for UNIX sockets or datagrams: no TCP client address to use. */
  | 'unsupported-header';

export type ProxyHeaderResult =
  /** More bytes are needed (never once PROXY_HEADER_MAX_BYTES bytes are there). */
  | { readonly kind: 'incomplete' }
  /** auto: the stream starts with something else (frames): no header. */
  | { readonly kind: 'absent' }
  /** A header of `bytes` bytes; `source` null: use the peer address (v2 LOCAL, v1 UNKNOWN, AF_UNSPEC). */
  | {
      readonly kind: 'header';
      readonly version: 1 | 2;
      readonly bytes: number;
      readonly source: ProxySource | null;
    }
  | { readonly kind: 'refused'; readonly problem: ProxyHeaderProblem };

/** `PROXY ` */
const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20];
/** `\r\n\r\n\0\r\nQUIT\n` */
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** The spec's bound for a v1 line, `PROXY` to CRLF included. */
export const V1_MAX_BYTES = 107;
const V2_FIXED_BYTES = 16;
/** Bytes after v2's fixed 16 (addresses and TLVs); the spec allows 65535, balancers send < 300. */
export const V2_MAX_LENGTH = 4096;
/** No result ever depends on a byte past this. */
export const PROXY_HEADER_MAX_BYTES = V2_FIXED_BYTES + V2_MAX_LENGTH;

const INCOMPLETE: ProxyHeaderResult = { kind: 'incomplete' };
const ABSENT: ProxyHeaderResult = { kind: 'absent' };
const refused = (problem: ProxyHeaderProblem): ProxyHeaderResult => ({ kind: 'refused', problem });

type Match = 'full' | 'partial' | 'no';

/** How `buf` compares with `signature`: starts with it, is a prefix of it, or neither. */
function match(buf: Uint8Array, signature: readonly number[]): Match {
  const n = Math.min(buf.length, signature.length);
  for (let i = 0; i < n; i++) if (buf[i] !== signature[i]) return 'no';
  return n === signature.length ? 'full' : 'partial';
}

/**
 * Which signature the first bytes of a stream carry: enough to tell a PROXY header from frames
 * (a frame's first byte is 0x00 or 0x01: its length is at most 16 MiB).
 */
export function proxySignature(buf: Uint8Array): 'v1' | 'v2' | 'partial' | 'none' {
  const v1 = match(buf, V1_SIGNATURE);
  if (v1 !== 'no') return v1 === 'full' ? 'v1' : 'partial';
  const v2 = match(buf, V2_SIGNATURE);
  if (v2 !== 'no') return v2 === 'full' ? 'v2' : 'partial';
  return 'none';
}

/** Parses the header at the start of `buf`, as the listener configured by `expect` takes it. */
export function parseProxyHeader(buf: Uint8Array, expect: ProxyHeaderExpect): ProxyHeaderResult {
  if (buf.length === 0) return INCOMPLETE;
  const v1 = match(buf, V1_SIGNATURE);
  const v2 = match(buf, V2_SIGNATURE);
  if (expect === 'auto') {
    // The first byte decides: neither signature's first byte can start a frame.
    if (buf[0] === V1_SIGNATURE[0]) return v1 === 'full' ? parseV1(buf) : after(v1);
    if (buf[0] === V2_SIGNATURE[0]) return v2 === 'full' ? parseV2(buf) : after(v2);
    return ABSENT;
  }
  const [mine, other] = expect === 'v1' ? [v1, v2] : [v2, v1];
  if (mine === 'full') return expect === 'v1' ? parseV1(buf) : parseV2(buf);
  if (mine === 'partial' || other === 'partial') return INCOMPLETE;
  return refused(other === 'full' ? 'wrong-version' : 'missing-header');
}

/** A signature begun: wait for the rest, or a stream that only looked like one. */
function after(m: Match): ProxyHeaderResult {
  return m === 'partial' ? INCOMPLETE : refused('bad-header');
}

/** `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN…\r\n` (spec §2.1). */
function parseV1(buf: Uint8Array): ProxyHeaderResult {
  const end = Math.min(buf.length, V1_MAX_BYTES);
  let lf = -1;
  for (let i = V1_SIGNATURE.length; i < end; i++) {
    const c = buf[i];
    if (c === 0x0a) {
      lf = i;
      break;
    }
    // Printable ASCII, and CR only right before LF.
    if ((c < 0x20 || c > 0x7e) && c !== 0x0d) return refused('bad-header');
  }
  if (lf === -1) return end === V1_MAX_BYTES ? refused('header-too-large') : INCOMPLETE;
  if (buf[lf - 1] !== 0x0d) return refused('bad-header');
  let line = '';
  for (let i = V1_SIGNATURE.length; i < lf - 1; i++) {
    if (buf[i] === 0x0d) return refused('bad-header');
    line += String.fromCharCode(buf[i]);
  }
  const header = (source: ProxySource | null): ProxyHeaderResult => ({
    kind: 'header',
    version: 1,
    bytes: lf + 1,
    source,
  });
  // The receiver ignores whatever follows UNKNOWN (spec §2.1).
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return header(null);
  const parts = line.split(' ');
  if (parts.length !== 5) return refused('bad-header');
  const [proto, src, dst, sport, dport] = parts;
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return refused('bad-header');
  const address = textAddress(src, family);
  const port = textPort(sport);
  if (address === undefined || textAddress(dst, family) === undefined) return refused('bad-header');
  if (port === undefined || textPort(dport) === undefined) return refused('bad-header');
  return header({ address, port });
}

/** The canonical form of a v1 address (bans and lists key on the text), or undefined. */
function textAddress(text: string, family: 4 | 6): string | undefined {
  // Node's isIP refuses leading zeros in IPv4, so a valid IPv4 text is canonical already.
  if (isIP(text) !== family || text.includes('%')) return undefined;
  return family === 4 ? text : formatIpv6(ipv6Bytes(text));
}

function textPort(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

/** 16 bytes of an IPv6 text that isIP accepted (groups, one `::`, maybe a dotted IPv4 tail). */
function ipv6Bytes(text: string): Uint8Array {
  const groups = (side: string): number[] => {
    if (side === '') return [];
    const out: number[] = [];
    for (const g of side.split(':')) {
      if (g.includes('.')) {
        const [a, b, c, d] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = text.indexOf('::');
  const head = groups(gap === -1 ? text : text.slice(0, gap));
  const tail = gap === -1 ? [] : groups(text.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** `\r\n\r\n\0\r\nQUIT\n`, version and command, family and protocol, length, addresses, TLVs (spec §2.2). */
function parseV2(buf: Uint8Array): ProxyHeaderResult {
  if (buf.length < V2_FIXED_BYTES) return INCOMPLETE;
  const version = buf[12] >> 4;
  const command = buf[12] & 0x0f;
  const family = buf[13] >> 4;
  const protocol = buf[13] & 0x0f;
  const length = (buf[14] << 8) | buf[15];
  if (version !== 2 || command > 1 || family > 3 || protocol > 2) return refused('bad-header');
  // Decided from the fixed part, before a byte of the rest is waited for.
  if (length > V2_MAX_LENGTH) return refused('header-too-large');
  const bytes = V2_FIXED_BYTES + length;
  if (buf.length < bytes) return INCOMPLETE;
  const header = (source: ProxySource | null): ProxyHeaderResult => ({
    kind: 'header',
    version: 2,
    bytes,
    source,
  });
  // LOCAL: the balancer's own connection (health checks); addresses ignored. UNSPEC: none given.
  if (command === 0 || family === 0) return header(null);
  if (family === 3 || protocol !== 1) return refused('unsupported-header');
  const at = V2_FIXED_BYTES;
  if (family === 1) {
    // src 4, dst 4, src port 2, dst port 2; TLVs after them are skipped.
    if (length < 12) return refused('bad-header');
    const address = `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
    return header({ address, port: (buf[at + 8] << 8) | buf[at + 9] });
  }
  // src 16, dst 16, src port 2, dst port 2.
  if (length < 36) return refused('bad-header');
  const src = new Uint8Array(16);
  for (let i = 0; i < 16; i++) src[i] = buf[at + i];
  return header({ address: formatIpv6(src), port: (buf[at + 32] << 8) | buf[at + 33] });
}

/**
 * RFC 5952 text of 16 address bytes: lowercase, the longest run of two or more zero groups as
 * `::`, and IPv4-mapped addresses as `::ffff:a.b.c.d`, which is how Node reports such peers.
 */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (best === -1) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}
