import { BlockList, Socket, isIP } from 'node:net';
import {
  ProxyHeaderExpect,
  ProxyHeaderProblem,
  parseProxyHeader,
  proxySignature,
} from './proxy-header.js';
import { TransportStats } from './transport-stats.js';

/** The TCP listener behind a load balancer that speaks the PROXY protocol. */
export interface ProxyProtocolOptions {
  /** v1 or v2: every connection starts with a header of that version; auto: optional, either. */
  mode: ProxyHeaderExpect;
  /** Peers (the balancers) whose header is believed; anyone else is a client. */
  trusted: BlockList;
  /** A header must be complete within this: a silent or dribbling peer is closed after it. */
  headerTimeoutMs: number;
}

/** Why a connection was closed at the PROXY stage (a label of longlink_proxy_refused_total). */
export type ProxyRefusal =
  ProxyHeaderProblem | 'untrusted-peer' | 'header-timeout' | 'too-many-pending';

/** Sockets reading a header at once; more are refused (each holds a timer and under 4 KiB). */
const MAX_PENDING = 10_000;
/** Peers whose trust is remembered; dropped whole when full (many addresses: just slower). */
const TRUST_CACHE_SIZE = 4096;

interface Remote {
  address: string;
  port: number;
}

/**
 * The PROXY stage of accept: which peers may name a client, reading their header on the raw
 * socket (before TLS, as balancers send it) with a deadline and a size cap, and handing the
 * client's address on. Until then the socket is not a connection: no access hook has seen it,
 * no per-IP count includes it, and shutdown closes it.
 */
export class ProxyGate {
  private readonly pending = new Set<Socket>();
  /** BlockList.check costs ~1.3 µs, twice per connect: a connect flood pays it once per address. */
  private readonly trustCache = new Map<string, boolean>();

  constructor(
    private readonly options: ProxyProtocolOptions,
    private readonly stats: TransportStats,
    private readonly log: (line: string) => void,
  ) {}

  trusts(peer: string): boolean {
    let trusted = this.trustCache.get(peer);
    if (trusted === undefined) {
      if (this.trustCache.size >= TRUST_CACHE_SIZE) this.trustCache.clear();
      const version = isIP(peer);
      trusted = version !== 0 && this.options.trusted.check(peer, version === 6 ? 'ipv6' : 'ipv4');
      this.trustCache.set(peer, trusted);
    }
    return trusted;
  }

  /**
   * The check at accept, by the TCP peer (at the handle, see EarlyRefusal): a trusted peer is
   * let through unchecked (its caps and bans would hit every client behind it; the checks run on
   * the client's address once the header names it); an untrusted one is refused where a header
   * is required, and is an ordinary client in auto mode.
   */
  atAccept(peer: string, refusal: (address: string) => string | null): string | null {
    if (this.trusts(peer)) return null;
    if (this.options.mode !== 'auto') return this.count('untrusted-peer');
    return refusal(peer);
  }

  /** Counts a refusal made elsewhere and gives its reason back. */
  count(reason: ProxyRefusal): ProxyRefusal {
    this.stats.proxyRefused(reason);
    return reason;
  }

  /**
   * Reads a trusted peer's header from its paused socket, then calls `admit` with the client it
   * names (the peer itself for LOCAL, UNKNOWN, or no header in auto mode), the bytes after the
   * header put back for the frame decoder (or TLS). Any problem closes the socket, no PDU.
   */
  read(socket: Socket, peer: Remote, admit: (client: Remote) => void): void {
    socket.on('error', () => undefined);
    if (this.pending.size >= MAX_PENDING) return this.refuse(socket, peer, 'too-many-pending');
    this.pending.add(socket);
    let buffered: Buffer | null = null;
    const finish = () => {
      clearTimeout(timer);
      this.pending.delete(socket);
      socket.off('data', onData);
      socket.off('close', finish);
      socket.pause();
    };
    const onData = (chunk: Buffer) => {
      // At most PROXY_HEADER_MAX_BYTES are buffered: the parser decides by then.
      const data = buffered === null ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseProxyHeader(data, this.options.mode);
      if (result.kind === 'incomplete') {
        buffered = data;
        return;
      }
      finish();
      if (result.kind === 'refused') return this.refuse(socket, peer, result.problem);
      const used = result.kind === 'header' ? result.bytes : 0;
      // Paused first, so the bytes wait for the connection's reader instead of flowing past it.
      if (used < data.length) socket.unshift(data.subarray(used));
      admit(result.kind === 'header' && result.source !== null ? result.source : peer);
    };
    const timer = setTimeout(() => {
      finish();
      this.refuse(socket, peer, 'header-timeout');
    }, this.options.headerTimeoutMs);
    socket.on('data', onData);
    // Gone before its header: nothing to refuse.
    socket.once('close', finish);
    socket.resume();
  }

  /**
   * auto mode, a peer not trusted: its bytes go to the connection as frames, but a PROXY
   * header from it closes the connection without a PDU. The 12 bytes of a signature are known
   * before the frame decoder has a 16-byte header to judge, so it never answers one.
   */
  watchUntrusted(socket: Socket, conn: { destroy(reason: string): void }, peer: string): void {
    if (this.options.mode !== 'auto') return;
    let head: Buffer | null = null;
    const sniff = (chunk: Buffer) => {
      const seen = head === null ? chunk : Buffer.concat([head, chunk]);
      const signature = proxySignature(seen);
      if (signature === 'partial') {
        head = seen;
        return;
      }
      socket.off('data', sniff);
      if (signature === 'none') return;
      this.count('untrusted-peer');
      this.log(`refused ${peer}: PROXY ${signature} header from an untrusted peer`);
      conn.destroy('proxy-untrusted-peer');
    };
    // Before the connection's own reader, which then finds it closed.
    socket.prependListener('data', sniff);
  }

  /** Shutdown: the sockets still reading a header. */
  closeAll(): void {
    for (const socket of this.pending) socket.destroy();
    this.pending.clear();
  }

  private refuse(socket: Socket, peer: Remote, reason: ProxyRefusal): void {
    this.count(reason);
    this.log(`refused ${peer.address}: PROXY ${reason}`);
    socket.destroy();
  }
}
