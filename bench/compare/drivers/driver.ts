import { Histogram, build } from 'hdr-histogram-js';
import { LocalEndpoint } from '../addresses';

/** The wire protocols the generator speaks; several systems share one. */
export type Protocol = 'longlink' | 'longlink-ws' | 'mqtt' | 'socketio';

/** Counters of one generator process, summed over its clients. */
export class LoadStats {
  sent = 0;
  sendAcks = 0;
  delivered = 0;
  dups = 0;
  errors = 0;
  kicks = 0;
  /** Connections that closed while the benchmark still used them. */
  dropped = 0;
  heartbeatsSent = 0;
  heartbeatReplies = 0;
  /** Messages an open loop was due to send but held back because too many were in flight. */
  suppressed = 0;
  recording = false;
  readonly errorSamples: string[] = [];
  /** Send-to-delivery latency in µs (hdr-histogram, 3 significant digits). */
  hist: Histogram = newHistogram();

  error(what: string): void {
    this.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(what);
  }

  /** Records a latency when recording is on; values below 1 µs count as 1. */
  latency(us: number): void {
    this.hist.recordValue(us < 1 ? 1 : us);
  }
}

export function newHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, autoResize: true });
}

/** An authenticated connection that only heartbeats. */
export interface IdleClient {
  /** Sends one heartbeat (a no-op where the server drives heartbeats, as in Socket.IO). */
  heartbeat(): void;
  close(): void;
}

/**
 * A sender→receiver pair. A message is complete once the sender has its ack
 * (SEND_ACK / PUBACK / emit ack) and the receiver has acknowledged its delivery
 * (PUSH_ACK / PUBACK / ack callback).
 */
export interface PairClient {
  /** Sends `count` messages now, each stamped with the current time. */
  send(count: number): void;
  /** Closed loop: keeps `window` messages unacknowledged by the server (see refillCount); 0 stops. */
  setWindow(window: number): void;
  sent(): number;
  completed(): number;
  close(): void;
}

export interface Driver {
  readonly protocol: Protocol;
  /**
   * Connects from `local` (127.0.0.x and a port) and authenticates as `uid`; to
   * `port` when given (another node of a longlink cluster), else the driver's own.
   */
  idle(uid: string, local: LocalEndpoint, port?: number): Promise<IdleClient>;
  /** Connects and logs in the pair `index` (uids tx-index and rx-index). */
  pair(index: number): Promise<PairClient>;
  /** Work done before timing (minting tokens); returns ms spent. */
  prepare(uids: string[]): Promise<number>;
}

/**
 * How far a backlog of sent but not yet delivered-and-acknowledged messages
 * may grow, in windows, before a closed-loop sender waits for deliveries.
 */
export const BACKLOG_WINDOWS = 4;

/**
 * Closed loop: how many messages a sender sends now. It keeps `window` messages
 * in flight from its own point of view (sent, not yet answered by the server:
 * SEND_ACK, PUBACK, emit ack), as a client would, so that it always has a new
 * message to send when an ack arrives. (Waiting for the delivery too leaves it
 * silent on that socket: its ACKs are then delayed, and a broker with Nagle on,
 * like Mosquitto, stalls 40 ms at a time.) So that a server that acks faster
 * than it delivers cannot pile up an unbounded backlog, sending also waits while
 * more than BACKLOG_WINDOWS windows are sent but not yet complete.
 */
export function refillCount(
  window: number,
  sent: number,
  acked: number,
  completed: number,
): number {
  return Math.min(window - (sent - acked), BACKLOG_WINDOWS * window - (sent - completed));
}

/**
 * The bookkeeping every pair driver shares: messages sent, acknowledged by the
 * server, delivered, the closed-loop window and its refill. A driver writes the
 * messages (writeMessages) and counts acks and deliveries in `acked` and
 * `delivered`, calling refill() when either moves.
 */
export abstract class WindowedPair implements PairClient {
  protected sentCount = 0;
  protected acked = 0;
  protected delivered = 0;
  protected window = 0;
  protected closing = false;

  constructor(protected readonly stats: LoadStats) {}

  /** Writes `count` messages stamped with the current time. */
  protected abstract writeMessages(count: number): void;
  protected abstract closeConnections(): void;

  send(count: number): void {
    if (this.closing) return;
    this.writeMessages(count);
    this.sentCount += count;
    this.stats.sent += count;
  }

  setWindow(window: number): void {
    this.window = window;
    this.refill();
  }

  sent(): number {
    return this.sentCount;
  }

  completed(): number {
    return this.acked < this.delivered ? this.acked : this.delivered;
  }

  close(): void {
    this.closing = true;
    this.closeConnections();
  }

  protected refill(): void {
    if (this.window === 0) return;
    const missing = refillCount(this.window, this.sentCount, this.acked, this.completed());
    if (missing > 0) this.send(missing);
  }
}
