/**
 * MQTT 3.1.1 driver (Mosquitto, Aedes), QoS 1 point to point: the receiver
 * subscribes to its own topic; the sender publishes QoS 1 to it. The two acks
 * match longlink's: PUBLISH → PUBACK from the broker (SEND → SEND_ACK), and the
 * delivery PUBLISH → PUBACK from the receiver (MSG → PUSH_ACK), all PUBACKs of
 * one read leaving in one write. Packets are built and parsed by ./mqtt.codec.
 */
import { Socket } from 'node:net';
import { STAMP_DIGITS, nowUs, putDigits, readDigits } from '../ascii';
import { LocalEndpoint } from '../addresses';
import { Driver, IdleClient, LoadStats, PairClient, WindowedPair } from './driver';
import {
  MqttDecoder,
  MqttSink,
  MqttType,
  PINGREQ,
  encodeConnect,
  encodeSubscribe,
  publishTemplate,
  writePuback,
} from './mqtt.codec';
import { TurnEnd, atTurnEnd, connectTcp, withTimeout } from './tcp';

/** Keep-alive announced in CONNECT; clients ping far more often (the heartbeat interval). */
const KEEPALIVE_S = 600;
const CONNECT_TIMEOUT_MS = 30_000;
/** Packet ids are 16-bit: an open loop holds back sends beyond this many in flight. */
export const MQTT_MAX_IN_FLIGHT = 60_000;

class MqttLink implements MqttSink {
  readonly decoder = new MqttDecoder(this);
  socket!: Socket;
  onPacket: (first: number, buf: Buffer, start: number, length: number) => void = () => undefined;
  /** Called after each read was decoded. */
  afterRead: () => void = () => undefined;
  readonly onRead = (chunk: Buffer): void => {
    this.decoder.push(chunk);
    this.afterRead();
  };
}

/** Resolves on the first packet of `type`; rejects on close. */
function expect(link: MqttLink, type: number, what: string): Promise<Buffer> {
  return withTimeout(
    new Promise<Buffer>((resolve, reject) => {
      link.onPacket = (first, buf, start, length) => {
        if (first >> 4 === type) resolve(buf.subarray(start, start + length));
      };
      link.socket.once('close', () => reject(new Error(`closed before ${what}`)));
    }),
    CONNECT_TIMEOUT_MS,
    what,
  );
}

export class MqttDriver implements Driver {
  readonly protocol = 'mqtt';

  constructor(
    private readonly port: number,
    private readonly stats: LoadStats,
  ) {}

  async prepare(): Promise<number> {
    return 0;
  }

  private async connect(clientId: string, local: LocalEndpoint | undefined): Promise<MqttLink> {
    const link = new MqttLink();
    link.socket = await connectTcp(this.port, local, link);
    const connack = expect(link, MqttType.CONNACK, 'CONNACK');
    link.socket.write(encodeConnect(clientId, KEEPALIVE_S));
    try {
      const body = await connack;
      if (body[1] !== 0) throw new Error(`CONNACK return code ${body[1]}`);
    } catch (err) {
      link.socket.destroy();
      throw err;
    }
    return link;
  }

  async idle(uid: string, local: LocalEndpoint | undefined): Promise<IdleClient> {
    const link = await this.connect(uid, local);
    const stats = this.stats;
    let closing = false;
    link.onPacket = (first) => {
      if (first >> 4 === MqttType.PINGRESP) stats.heartbeatReplies++;
    };
    link.socket.once('close', () => {
      if (!closing) stats.dropped++;
    });
    return {
      heartbeat: () => {
        stats.heartbeatsSent++;
        link.socket.write(PINGREQ);
      },
      close: () => {
        closing = true;
        link.socket.destroy();
      },
    };
  }

  async pair(index: number): Promise<PairClient> {
    const topic = `m/rx-${index}`;
    const rx = await this.connect(`rx-${index}`, undefined);
    const suback = expect(rx, MqttType.SUBACK, 'SUBACK');
    rx.socket.write(encodeSubscribe(1, topic, 1));
    const granted = await suback;
    if (granted[2] !== 1) throw new Error(`SUBACK granted QoS ${granted[2]}`);
    const tx = await this.connect(`tx-${index}`, undefined);
    return new MqttPair(tx, rx, topic, this.stats);
  }
}

class MqttPair extends WindowedPair implements TurnEnd {
  turnQueued = false;
  private readonly template: Buffer;
  private readonly idOffset: number;
  private readonly payloadOffset: number;
  private counter = 0;
  /** PUBACKs owed for this turn's reads, written at its end. */
  private acks = Buffer.allocUnsafe(4 * 1024);
  private ackBytes = 0;

  constructor(
    private readonly tx: MqttLink,
    private readonly rx: MqttLink,
    topic: string,
    stats: LoadStats,
  ) {
    super(stats);
    const t = publishTemplate(topic, STAMP_DIGITS);
    this.template = t.frame;
    this.idOffset = t.idOffset;
    this.payloadOffset = t.payloadOffset;
    tx.onPacket = (first) => this.onTx(first);
    rx.onPacket = (first, buf, start, length) => this.onRx(first, buf, start, length);
    tx.afterRead = () => atTurnEnd(this);
    rx.afterRead = () => atTurnEnd(this);
    for (const link of [tx, rx]) {
      link.socket.once('close', () => {
        if (!this.closing) stats.dropped++;
      });
    }
  }

  private onTx(first: number): void {
    if (first >> 4 === MqttType.PUBACK) {
      this.acked++;
      this.stats.sendAcks++;
    }
  }

  private onRx(first: number, buf: Buffer, start: number, length: number): void {
    if (first >> 4 !== MqttType.PUBLISH) return;
    // §3.3.2: topic name (length-prefixed), then the packet id (QoS > 0), then the payload.
    const topicLength = buf.readUInt16BE(start);
    const idAt = start + 2 + topicLength;
    const packetId = buf.readUInt16BE(idAt);
    if (this.ackBytes + 4 > this.acks.length) {
      const bigger = Buffer.allocUnsafe(this.acks.length * 2);
      this.acks.copy(bigger, 0, 0, this.ackBytes);
      this.acks = bigger;
    }
    writePuback(this.acks, this.ackBytes, packetId);
    this.ackBytes += 4;
    if (first & 0x08) {
      this.stats.dups++; // DUP flag: a redelivery
      return;
    }
    this.delivered++;
    this.stats.delivered++;
    if (this.stats.recording && start + length - (idAt + 2) >= STAMP_DIGITS) {
      this.stats.latency(nowUs() - readDigits(buf, idAt + 2, STAMP_DIGITS));
    }
  }

  /** After this turn's reads: all PUBACKs owed in one write, then refill the window. */
  endTurn(): void {
    if (this.ackBytes > 0) {
      this.rx.socket.write(Buffer.from(this.acks.subarray(0, this.ackBytes)));
      this.ackBytes = 0;
    }
    this.refill();
  }

  protected writeMessages(count: number): void {
    const t = this.template;
    const len = t.length;
    const buf = Buffer.allocUnsafe(count * len);
    const stamp = nowUs();
    for (let m = 0, off = 0; m < count; m++, off += len) {
      buf.set(t, off);
      const id = (this.counter++ % 65535) + 1;
      buf[off + this.idOffset] = id >>> 8;
      buf[off + this.idOffset + 1] = id & 0xff;
      putDigits(buf, off + this.payloadOffset, STAMP_DIGITS, stamp);
    }
    this.tx.socket.write(buf);
  }

  protected closeConnections(): void {
    this.tx.socket.destroy();
    this.rx.socket.destroy();
  }
}
