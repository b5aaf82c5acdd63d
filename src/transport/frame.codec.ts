// The bare specifier, not node:buffer: Node resolves its builtin (the global Buffer itself), and
// bundlers resolve the npm `buffer` package, so the client SDK runs in browsers too.
import { Buffer } from 'buffer';

/**
 * The longlink frame: a fixed 16-byte big-endian header, then a UTF-8 JSON body.
 *
 *   0       4       6       8          12         16
 *   | plen  | hlen  | ver   |  op      |  seq     | body …
 *
 * plen counts the whole frame, header included. One codec serves the server,
 * the client SDK (Node and browser) and the benchmark generator, so they cannot drift.
 * Body parsing, which only the server needs, is in frame-body.ts.
 */
export const HEADER_BYTES = 16;
export const PROTOCOL_VERSION = 1;
/** Shared by every body-less frame (heartbeats): no view is made for nothing. */
const EMPTY_BODY = Buffer.alloc(0);

const OFF_HLEN = 4;
const OFF_VER = 6;
/** Where the op sits in the header (read by code that counts encoded frames). */
export const OFF_OP = 8;
const OFF_SEQ = 12;

/** Stable codes of the ways a byte stream can stop being a frame stream. */
export type FrameErrorCode =
  'frame-too-small' | 'frame-too-large' | 'bad-header-length' | 'unsupported-version';

export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Receives what a FrameDecoder finds; a method object, so no closure is made per frame. */
export interface FrameSink {
  onFrame(op: number, seq: number, body: Buffer): void;
  onFrameError(error: FrameError): void;
}

export function writeHeader(buf: Buffer, offset: number, length: number, op: number, seq: number) {
  buf.writeUInt32BE(length, offset);
  buf.writeUInt16BE(HEADER_BYTES, offset + OFF_HLEN);
  buf.writeUInt16BE(PROTOCOL_VERSION, offset + OFF_VER);
  buf.writeUInt32BE(op >>> 0, offset + OFF_OP);
  buf.writeUInt32BE(seq >>> 0, offset + OFF_SEQ);
}

/** Encodes one frame. `body` is JSON text or raw bytes; empty when omitted. */
export function encodeFrame(op: number, seq: number, body?: string | Buffer): Buffer {
  if (body === undefined || body.length === 0) {
    const buf = Buffer.allocUnsafe(HEADER_BYTES);
    writeHeader(buf, 0, HEADER_BYTES, op, seq);
    return buf;
  }
  if (typeof body === 'string') {
    const bodyBytes = Buffer.byteLength(body);
    const buf = Buffer.allocUnsafe(HEADER_BYTES + bodyBytes);
    writeHeader(buf, 0, buf.length, op, seq);
    buf.write(body, HEADER_BYTES);
    return buf;
  }
  const buf = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  writeHeader(buf, 0, buf.length, op, seq);
  body.copy(buf, HEADER_BYTES);
  return buf;
}

/** Encodes a frame whose body is `value` as JSON (no body for undefined). */
export function encodeJsonFrame(op: number, seq: number, value?: unknown): Buffer {
  return encodeFrame(op, seq, value === undefined ? undefined : JSON.stringify(value));
}

/**
 * Streaming decoder. Frames that arrive whole are handed out as views into the
 * read buffer (no copy). A frame split across reads is copied once into a buffer
 * of exactly its size, allocated only after its header passed every check, so a
 * hostile length never costs more than maxFrameBytes.
 */
export class FrameDecoder {
  private readonly header = Buffer.allocUnsafe(HEADER_BYTES);
  private headerFill = 0;
  private partial: Buffer | null = null;
  private partialFill = 0;
  private failed = false;
  private pushing = false;
  private backlog: Buffer[] | null = null;

  constructor(
    private readonly sink: FrameSink,
    /** The largest frame accepted from the next header on (a connection lowers it before login). */
    public maxFrameBytes: number,
    /** Names the limit in frame-too-large messages. */
    public limitName = 'maxFrameBytes',
  ) {}

  /** True while a frame is half received (a close now cuts a frame). */
  get midFrame(): boolean {
    return this.headerFill > 0 || this.partial !== null;
  }

  /** Feeds bytes. A push made from inside onFrame is queued, so frames keep stream order. */
  push(chunk: Buffer): void {
    if (this.pushing) {
      (this.backlog ??= []).push(chunk);
      return;
    }
    this.pushing = true;
    try {
      this.decode(chunk);
      while (this.backlog !== null && this.backlog.length > 0) this.decode(this.backlog.shift()!);
    } finally {
      this.pushing = false;
    }
  }

  private decode(chunk: Buffer): void {
    if (this.failed) return;
    let off = 0;
    if (this.headerFill > 0 || this.partial !== null) {
      off = this.continuePartial(chunk);
      if (off < 0) return;
    }
    const end = chunk.length;
    // Fast path: whole frames straight out of the read buffer.
    while (end - off >= HEADER_BYTES) {
      const length = chunk.readUInt32BE(off);
      const err = this.check(chunk, off, length);
      if (err) return this.fail(err);
      if (end - off < length) break;
      const body =
        length === HEADER_BYTES ? EMPTY_BODY : chunk.subarray(off + HEADER_BYTES, off + length);
      this.sink.onFrame(chunk.readUInt32BE(off + OFF_OP), chunk.readUInt32BE(off + OFF_SEQ), body);
      if (this.failed) return;
      off += length;
    }
    if (off < end) this.startPartial(chunk, off);
  }

  private startPartial(chunk: Buffer, off: number): void {
    const rest = chunk.length - off;
    if (rest < HEADER_BYTES) {
      chunk.copy(this.header, 0, off);
      this.headerFill = rest;
      return;
    }
    // Header already checked by the caller's loop.
    const length = chunk.readUInt32BE(off);
    this.partial = Buffer.allocUnsafe(length);
    this.partialFill = chunk.copy(this.partial, 0, off);
  }

  /** Feeds a pending header or frame; returns the offset of the first unused byte, or -1. */
  private continuePartial(chunk: Buffer): number {
    let off = 0;
    if (this.partial === null) {
      const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length);
      chunk.copy(this.header, this.headerFill, 0, take);
      this.headerFill += take;
      off = take;
      if (this.headerFill < HEADER_BYTES) return -1;
      const length = this.header.readUInt32BE(0);
      const err = this.check(this.header, 0, length);
      if (err) {
        this.fail(err);
        return -1;
      }
      this.headerFill = 0;
      this.partial = Buffer.allocUnsafe(length);
      this.partialFill = this.header.copy(this.partial, 0);
    }
    const frame = this.partial;
    const take = Math.min(frame.length - this.partialFill, chunk.length - off);
    chunk.copy(frame, this.partialFill, off, off + take);
    this.partialFill += take;
    off += take;
    if (this.partialFill < frame.length) return -1;
    this.partial = null;
    this.partialFill = 0;
    this.sink.onFrame(
      frame.readUInt32BE(OFF_OP),
      frame.readUInt32BE(OFF_SEQ),
      frame.subarray(HEADER_BYTES),
    );
    return this.failed ? -1 : off;
  }

  private check(buf: Buffer, off: number, length: number): FrameError | null {
    if (length < HEADER_BYTES) {
      return new FrameError(
        'frame-too-small',
        `frame length ${length} is below the header size ${HEADER_BYTES}`,
      );
    }
    if (length > this.maxFrameBytes) {
      return new FrameError(
        'frame-too-large',
        `frame length ${length} exceeds ${this.limitName} ${this.maxFrameBytes}`,
      );
    }
    const hlen = buf.readUInt16BE(off + OFF_HLEN);
    if (hlen !== HEADER_BYTES) {
      return new FrameError('bad-header-length', `header length ${hlen}, expected ${HEADER_BYTES}`);
    }
    const ver = buf.readUInt16BE(off + OFF_VER);
    if (ver !== PROTOCOL_VERSION) {
      return new FrameError(
        'unsupported-version',
        `protocol version ${ver}, this server speaks ${PROTOCOL_VERSION}`,
      );
    }
    return null;
  }

  private fail(err: FrameError): void {
    this.failed = true;
    this.partial = null;
    this.headerFill = 0;
    this.sink.onFrameError(err);
  }
}
