/**
 * The few MQTT 3.1.1 packets the benchmark needs (CONNECT, CONNACK, SUBSCRIBE,
 * SUBACK, PUBLISH QoS 1, PUBACK, PINGREQ/PINGRESP), encoded and decoded by hand
 * so the MQTT driver costs the generator no more than the longlink one
 * (the `mqtt` client library allocates a packet object per message).
 * Spec references are to the OASIS MQTT 3.1.1 standard.
 */

export const MqttType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
} as const;

/** §2.2.3: remaining length, 7 bits per byte, at most 4 bytes. */
export function remainingLengthBytes(length: number): number[] {
  const out: number[] = [];
  let x = length;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 128;
    out.push(b);
  } while (x > 0);
  return out;
}

function utf8Field(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte, ...remainingLengthBytes(body.length)]), body]);
}

/** §3.1: CONNECT with clean session, protocol level 4, optional username/password. */
export function encodeConnect(
  clientId: string,
  keepAliveSeconds: number,
  username?: string,
  password?: string,
): Buffer {
  let flags = 0x02; // clean session
  if (username !== undefined) flags |= 0x80;
  if (password !== undefined) flags |= 0x40;
  const head = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, 0, 0]);
  head.writeUInt16BE(keepAliveSeconds, 8);
  const parts = [head, utf8Field(clientId)];
  if (username !== undefined) parts.push(utf8Field(username));
  if (password !== undefined) parts.push(utf8Field(password));
  return packet(MqttType.CONNECT << 4, Buffer.concat(parts));
}

/** §3.8: SUBSCRIBE (fixed-header flags 0b0010) to one filter. */
export function encodeSubscribe(packetId: number, topic: string, qos: 0 | 1): Buffer {
  const id = Buffer.allocUnsafe(2);
  id.writeUInt16BE(packetId, 0);
  return packet(
    (MqttType.SUBSCRIBE << 4) | 0x02,
    Buffer.concat([id, utf8Field(topic), Buffer.from([qos])]),
  );
}

/**
 * §3.3: a PUBLISH QoS 1 template for `topic` with a payload of `payloadBytes`;
 * the caller fills the packet id (at `idOffset`) and the payload (at `payloadOffset`).
 */
export function publishTemplate(
  topic: string,
  payloadBytes: number,
): { frame: Buffer; idOffset: number; payloadOffset: number } {
  const topicField = utf8Field(topic);
  const remaining = topicField.length + 2 + payloadBytes;
  const head = Buffer.from([(MqttType.PUBLISH << 4) | 0x02, ...remainingLengthBytes(remaining)]);
  const frame = Buffer.alloc(head.length + remaining);
  head.copy(frame, 0);
  topicField.copy(frame, head.length);
  const idOffset = head.length + topicField.length;
  return { frame, idOffset, payloadOffset: idOffset + 2 };
}

export const PINGREQ = Buffer.from([MqttType.PINGREQ << 4, 0]);

/** Writes a PUBACK (§3.4) for `packetId` at `off`; 4 bytes. */
export function writePuback(buf: Buffer, off: number, packetId: number): void {
  buf[off] = MqttType.PUBACK << 4;
  buf[off + 1] = 2;
  buf[off + 2] = packetId >>> 8;
  buf[off + 3] = packetId & 0xff;
}

/** Receives decoded packets as views: no object is made per packet. */
export interface MqttSink {
  /** `first` is the fixed header's first byte; the packet's body is buf[start, start+length). */
  onPacket(first: number, buf: Buffer, start: number, length: number): void;
}

/** Streaming decoder: whole packets are handed out in place; a split one is joined once. */
export class MqttDecoder {
  private rest: Buffer | null = null;

  constructor(private readonly sink: MqttSink) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const end = buf.length;
    let off = 0;
    while (end - off >= 2) {
      let i = off + 1;
      let length = 0;
      let mul = 1;
      let b = 0;
      let complete = true;
      do {
        if (i >= end) {
          complete = false;
          break;
        }
        b = buf[i++];
        length += (b & 127) * mul;
        mul *= 128;
      } while (b & 128);
      if (!complete || i + length > end) break;
      this.sink.onPacket(buf[off], buf, i, length);
      off = i + length;
    }
    // Copied: the read buffer is reused for the next read.
    if (off < end) this.rest = Buffer.from(buf.subarray(off));
  }
}
