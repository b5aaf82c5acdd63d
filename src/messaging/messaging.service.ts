import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { ConfigError } from '../config/config.error.js';
import { redactUrl } from '../config/redact-url.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { AccessListService } from '../guards/access-list.service.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { DeliveryService } from './delivery.service.js';
import { GroupCommit } from './group-commit.js';
import { MessageStoredEvent } from './message-events.js';
import { MESSAGE_STORE, MessageStore } from './message.store.js';
import { AppendResult, NewMessage } from './message.types.js';
import { activeQuotas } from './message-quotas.js';
import { toQuotaException } from './quota-refusal.js';
import { describeFailure, isStoreFailure, toStoreUnavailable } from './store-failure.js';

/** messaging.postgres.url could not be used at startup: unreachable, refused, or not set up. */
function postgresOpenError(url: string, err: unknown): ConfigError {
  // A SQLSTATE (5 characters, at least one a digit; unlike EPIPE) means the server answered:
  // it refused something (authentication, database, privilege).
  const code = (err as { code?: unknown } | null)?.code;
  const answered = typeof code === 'string' && /^(?=.*\d)[0-9A-Z]{5}$/.test(code);
  const what = answered ? 'cannot open the message store at' : 'cannot connect to';
  return new ConfigError(
    'messaging.postgres.url',
    `${what} ${redactUrl(url)} (${describeFailure(err)})`,
  );
}

/**
 * Accepts messages: stores them durably (group commit) before the sender's
 * SEND_ACK, dedupes resends by (sender, clientMsgId), hands new ones to
 * delivery, prunes by retention, and lets other modules observe stored messages.
 */
@Injectable()
export class MessagingService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('MessagingService');
  private readonly commits: GroupCommit;
  private readonly storedSubject = new Subject<MessageStoredEvent>();
  private pruneTimer: NodeJS.Timeout | null = null;
  private pruning = false;

  /** Plain counter read by metrics at scrape time: new messages stored (resends not counted). */
  readonly counts = { stored: 0 };

  /** Every newly stored message, after it is durable. */
  readonly stored$: Observable<MessageStoredEvent> = this.storedSubject.asObservable();

  constructor(
    @Inject(MESSAGE_STORE) private readonly store: MessageStore,
    private readonly delivery: DeliveryService,
    private readonly access: AccessListService,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {
    const m = config.messaging;
    const limits = {
      maxContentBytes: m.maxContentBytes,
      maxInboxMessages: m.maxInboxMessages,
      maxInboxBytes: m.maxInboxBytes,
      maxSenderMessagesPerDay: m.maxSenderMessagesPerDay,
      maxSenderBytesPerDay: m.maxSenderBytesPerDay,
    };
    this.commits = new GroupCommit(store, {
      onCommitted: (result) => {
        // A resend too: its first copy may have been committed by an append whose COMMIT reply
        // was lost (PostgreSQL), never handed to delivery. A no-op when it was pushed already.
        this.delivery.onStored(result.message);
        if (result.duplicate) return;
        this.counts.stored++;
        // No event object per message unless someone listens.
        if (this.storedSubject.observed) this.storedSubject.next({ message: result.message });
      },
      // Every SEND of a failed batch: ERROR store-unavailable, except for programming errors.
      onFailed: (err) => toStoreUnavailable(err, 'storing a batch of messages'),
      // All off (the default): undefined, and the store checks and reads nothing for quotas.
      quotas: activeQuotas(limits),
      // The rest of the batch is unaffected; the ERROR is counted per code like any other.
      onRefused: (refusal) => toQuotaException(refusal, limits),
    });
  }

  async onModuleInit(): Promise<void> {
    try {
      await this.store.open();
    } catch (err) {
      const { store, postgres } = this.config.messaging;
      // A server that cannot be reached at startup is a configuration problem: say which key.
      if (store === 'postgres' && postgres.url !== null && isStoreFailure(err)) {
        throw postgresOpenError(postgres.url, err);
      }
      throw err;
    }
    const { pruneIntervalMs } = this.config.messaging;
    this.pruneTimer = setInterval(() => void this.prune(), pruneIntervalMs);
    this.pruneTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.commits.drain();
    await this.delivery.flushAcks();
    await this.store.close();
  }

  /**
   * Stores a message (or finds the earlier copy of a resend); resolves once
   * durable, after delivery has been handed a new one. Not async: on every
   * SEND's path, an async frame per call shows in the GC.
   */
  send(message: NewMessage): Promise<AppendResult> {
    if (this.config.messaging.recipients === 'allowed' && !this.access.isUserAllowed(message.to)) {
      return Promise.reject(
        new LonglinkException(ErrorCode.UnknownRecipient, `recipient ${message.to} is not allowed`),
      );
    }
    return this.commits.submit(message);
  }

  /** Reports each committed append batch's duration in seconds and size (metrics). */
  observeAppends(observer: (seconds: number, size: number) => void): void {
    this.commits.onAppended = observer;
  }

  /**
   * Retention, pruneBatchMessages per event-loop turn: one pass over a large
   * backlog of expired messages held the loop for tens of milliseconds, and
   * every message in flight waited that long.
   */
  async prune(now = Date.now()): Promise<number> {
    if (this.pruning) return 0; // the previous pass is still going
    this.pruning = true;
    const { deliveredRetentionMs, undeliveredMaxAgeMs, pruneBatchMessages } = this.config.messaging;
    let dropped = 0;
    try {
      for (;;) {
        const n = await this.store.prune(
          now - deliveredRetentionMs,
          now - undeliveredMaxAgeMs,
          pruneBatchMessages,
        );
        dropped += n;
        if (n < pruneBatchMessages) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      this.logger.error(`pruning failed: ${String(err)}`);
    } finally {
      this.pruning = false;
    }
    if (dropped > 0) this.logger.log(`retention pruned ${dropped} messages`);
    return dropped;
  }
}
