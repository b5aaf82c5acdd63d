import { MsgOp } from '../messaging/messaging.ops.js';
import { ErrorCode } from '../transport/error-codes.js';
import { encodeJsonFrame } from '../transport/frame.codec.js';
import type { OutboxEvent } from './client.events.js';
import type { OutboxOptions } from './client.options.js';
import { LatestValueWriter } from './latest-value.writer.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import type { OutboxEntry } from './outbox.store.js';
import type { ProtocolLink } from './protocol-link.js';
import { type SendAck, parseSendAck } from './server-bodies.js';

/** What the Outbox needs from the client around it. */
export interface OutboxHost {
  /** The logged-in, open link, or null while (re)connecting or closed. */
  readyLink(): ProtocolLink | null;
  /** The server's announced frame limit, once known. */
  maxFrameBytes(): number | undefined;
  emit(event: OutboxEvent): void;
  /** A store failure: no call waits for it. */
  report(error: unknown): void;
}

/**
 * SENDs awaiting their reply at once. Enough to keep any link busy (replies come in well under a
 * window); few enough that the pacer's queue stays short, so a heartbeat never waits long.
 */
const MAX_IN_FLIGHT = 64;

/** store-unavailable: the server did not store it; try again after 0.5 s, 1 s, … 30 s. */
const STORE_RETRY_FIRST_MS = 500;
const STORE_RETRY_MAX_MS = 30_000;

interface Waiter {
  resolve(ack: SendAck): void;
  reject(error: LonglinkClientError): void;
}

interface Slot {
  readonly entry: OutboxEntry;
  state: 'waiting' | 'in-flight' | 'backing-off';
  /** The link its SEND was written on, while in flight. */
  link: ProtocolLink | undefined;
  /** SEND frames written so far (one per connection, unless the store asked to retry). */
  attempts: number;
  storeRetries: number;
  readonly waiters: Waiter[];
  timer: ReturnType<typeof setTimeout> | undefined;
  deadline: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

/**
 * The messages sent and not yet acknowledged (docs/CLIENT.md, "The outbox"): SENDs wait here, in
 * order, while the client is not connected, go out when it is, and go again, with the same
 * clientMsgId, after a connection lost before their reply (the server stores each once). Each
 * ends acknowledged or failed for good; the list is mirrored to an OutboxStore.
 */
export class Outbox {
  private slots: Slot[] = [];
  private readonly byId = new Map<string, Slot>();
  private inFlight = 0;
  private readonly writer: LatestValueWriter<readonly OutboxEntry[]>;

  constructor(
    private readonly options: Required<OutboxOptions>,
    private readonly host: OutboxHost,
  ) {
    this.writer = new LatestValueWriter((entries) => options.store.save(entries), host.report);
  }

  get size(): number {
    return this.slots.length;
  }

  /** connect(): takes back what the store holds (a previous run's, or before close()). */
  async start(): Promise<void> {
    await this.writer.idle();
    const stored = await this.options.store.load();
    for (const entry of stored) {
      if (this.byId.has(entry.clientMsgId)) continue;
      this.add(entry, false);
      this.host.emit({ state: 'queued', entry, waiting: true, restored: true });
    }
  }

  /**
   * Queues a SEND; resolves with its SEND reply once the server stored it, however many
   * reconnects that takes. `timeoutMs`: fail for good (`timeout`) if not acknowledged by then.
   */
  enqueue(entry: OutboxEntry, timeoutMs?: number): Promise<SendAck> {
    return new Promise<SendAck>((resolve, reject) => {
      const waiter = { resolve, reject };
      const known = this.byId.get(entry.clientMsgId);
      if (known !== undefined) {
        // The same message again (an app resending what it restored): one SEND, one outcome.
        known.waiters.push(waiter);
        return;
      }
      const refusal = this.refusal(entry);
      if (refusal !== undefined) {
        this.host.emit({ state: 'failed', entry, error: refusal });
        reject(refusal);
        return;
      }
      const slot = this.add(entry, true);
      slot.waiters.push(waiter);
      if (timeoutMs !== undefined) {
        slot.deadline = setTimeout(() => {
          const error = new LonglinkClientError(
            ClientErrorCode.Timeout,
            `no answer to SEND within ${timeoutMs} ms`,
          );
          this.fail(slot, error);
        }, timeoutMs);
      }
      const waiting = this.host.readyLink() === null || this.inFlight >= MAX_IN_FLIGHT;
      this.host.emit({ state: 'queued', entry, waiting, restored: false });
      this.pump();
    });
  }

  /** Sends what waits, in order, while a link is ready and the in-flight window has room. */
  pump(): void {
    const link = this.host.readyLink();
    if (link === null) return;
    for (const slot of this.slots) {
      if (this.inFlight >= MAX_IN_FLIGHT) return;
      if (slot.state === 'waiting') this.transmit(slot, link);
      if (!link.isOpen) return;
    }
  }

  /**
   * The client stopped: every message fails for good with `error`. `keepStored` (close(), or a
   * lost connection with reconnect off): the store keeps them for a later client to send.
   */
  failAll(error: LonglinkClientError, keepStored: boolean): void {
    const slots = this.slots;
    this.slots = [];
    this.byId.clear();
    this.inFlight = 0;
    if (!keepStored && slots.length > 0) this.save();
    for (const slot of slots) this.settle(slot, error);
  }

  /** Resolves once the store has seen the last change. */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  private refusal(entry: OutboxEntry): LonglinkClientError | undefined {
    if (this.slots.length >= this.options.maxMessages) {
      return new LonglinkClientError(
        ClientErrorCode.OutboxFull,
        `${this.slots.length} messages already wait for their acknowledgement (outbox.maxMessages)`,
      );
    }
    const max = this.host.maxFrameBytes();
    if (max === undefined) return undefined;
    const bytes = encodeJsonFrame(MsgOp.SEND, 1, sendBody(entry)).length;
    if (bytes <= max) return undefined;
    return new LonglinkClientError(
      ClientErrorCode.MessageTooLarge,
      `SEND would be a ${bytes}-byte frame; the server accepts at most ${max} bytes`,
    );
  }

  private add(entry: OutboxEntry, save: boolean): Slot {
    const slot: Slot = {
      entry,
      state: 'waiting',
      link: undefined,
      attempts: 0,
      storeRetries: 0,
      waiters: [],
      timer: undefined,
      deadline: undefined,
      done: false,
    };
    this.slots.push(slot);
    this.byId.set(entry.clientMsgId, slot);
    if (save) this.save();
    return slot;
  }

  private transmit(slot: Slot, link: ProtocolLink): void {
    slot.state = 'in-flight';
    slot.link = link;
    slot.attempts++;
    this.inFlight++;
    this.host.emit({ state: 'sent', entry: slot.entry, attempt: slot.attempts });
    // No reply timeout: a slow store is waited for; a dead link is the heartbeat's to find.
    link.request(MsgOp.SEND, sendBody(slot.entry), undefined).then(
      (body) => this.answered(slot, link, body),
      (error: unknown) => this.refused(slot, link, error),
    );
  }

  private answered(slot: Slot, link: ProtocolLink, body: unknown): void {
    if (!this.current(slot, link)) return;
    let ack: SendAck;
    try {
      ack = parseSendAck(body);
    } catch (error) {
      this.fail(slot, asClientError(error));
      return;
    }
    this.remove(slot);
    this.host.emit({ state: 'acknowledged', entry: slot.entry, ack });
    for (const waiter of slot.waiters) waiter.resolve(ack);
    this.pump();
  }

  private refused(slot: Slot, link: ProtocolLink, error: unknown): void {
    if (!this.current(slot, link)) return;
    const failure = asClientError(error);
    if (failure.code === ClientErrorCode.Disconnected) {
      // Not answered before the link went: it goes again on the next one, in its place.
      this.backToWaiting(slot);
      this.pump();
    } else if (failure.code === ErrorCode.StoreUnavailable) {
      this.backToWaiting(slot);
      slot.state = 'backing-off';
      const delay = Math.min(STORE_RETRY_MAX_MS, STORE_RETRY_FIRST_MS * 2 ** slot.storeRetries++);
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        slot.state = 'waiting';
        this.pump();
      }, delay);
      this.pump();
    } else {
      // The server said no to this message (bad-request, unknown-recipient, rate-limited after
      // the retries, an application code), or it is too large: sending it again cannot help.
      // So do a quota's refusals: content-too-large; inbox-full (it frees only when the
      // recipient reads); daily-quota-exceeded (error.retryAfterMs says when: the app decides).
      this.fail(slot, failure);
    }
  }

  /** Whether an outcome on `link` still concerns `slot` (not failed meanwhile, not resent). */
  private current(slot: Slot, link: ProtocolLink): boolean {
    return !slot.done && slot.state === 'in-flight' && slot.link === link;
  }

  private backToWaiting(slot: Slot): void {
    if (slot.state === 'in-flight') this.inFlight--;
    slot.state = 'waiting';
    slot.link = undefined;
  }

  private fail(slot: Slot, error: LonglinkClientError): void {
    if (slot.done) return;
    this.remove(slot);
    this.settle(slot, error);
    this.pump();
  }

  private remove(slot: Slot): void {
    this.backToWaiting(slot);
    slot.done = true;
    clearTimeout(slot.timer);
    clearTimeout(slot.deadline);
    const index = this.slots.indexOf(slot);
    if (index !== -1) this.slots.splice(index, 1);
    this.byId.delete(slot.entry.clientMsgId);
    this.save();
  }

  private settle(slot: Slot, error: LonglinkClientError): void {
    slot.done = true;
    clearTimeout(slot.timer);
    clearTimeout(slot.deadline);
    this.host.emit({ state: 'failed', entry: slot.entry, error });
    for (const waiter of slot.waiters) waiter.reject(error);
  }

  private save(): void {
    this.writer.write(this.slots.map((slot) => slot.entry));
  }
}

function sendBody(entry: OutboxEntry): { to: string; clientMsgId: string; content: unknown } {
  return { to: entry.to, clientMsgId: entry.clientMsgId, content: entry.content };
}

function asClientError(error: unknown): LonglinkClientError {
  if (error instanceof LonglinkClientError) return error;
  return new LonglinkClientError(
    ClientErrorCode.BadReply,
    error instanceof Error ? error.message : String(error),
  );
}
