import { MessageStore } from './message.store.js';
import { AppendRefusal, AppendResult, MessageQuotas, NewMessage } from './message.types.js';

interface Pending {
  message: NewMessage;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Runs for each result once its batch is durable, before its submitter resumes. */
  onCommitted?: (result: AppendResult) => void;
  maxBatch?: number;
  /** What each submitter of a batch whose append failed is rejected with (once per batch). */
  onFailed?: (err: unknown) => unknown;
  /** Passed to every append: the store refuses what would exceed them (undefined: off). */
  quotas?: MessageQuotas;
  /** What the submitter of a message the store refused is rejected with. */
  onRefused?: (refusal: AppendRefusal) => unknown;
}

/**
 * Group commit: every message submitted within one event-loop turn goes to the
 * store as one batch (one transaction, one fsync), so durability does not cap
 * throughput at one sync per message. Batches run one at a time, in order, so
 * a sender's messages keep their order in every inbox.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  /** Told each committed batch's append time (metrics); the clock is read only when set. */
  onAppended: ((seconds: number, size: number) => void) | null = null;
  private readonly onCommitted: (result: AppendResult) => void;
  private readonly maxBatch: number;
  private readonly onFailed: (err: unknown) => unknown;
  private readonly quotas: MessageQuotas | undefined;
  private readonly onRefused: (refusal: AppendRefusal) => unknown;

  constructor(
    private readonly store: MessageStore,
    options: GroupCommitOptions = {},
  ) {
    this.onCommitted = options.onCommitted ?? (() => undefined);
    this.maxBatch = options.maxBatch ?? 1024;
    this.onFailed = options.onFailed ?? ((err) => err);
    this.quotas = options.quotas;
    this.onRefused = options.onRefused ?? ((refusal) => new Error(refusal.refused));
  }

  submit(message: NewMessage): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is committed. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.running !== null || this.scheduled) {
      if (this.running) await this.running;
      else await new Promise((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.commit().finally(() => {
        this.running = null;
        if (this.pending.length > 0) this.schedule();
      });
    });
  }

  private async commit(): Promise<void> {
    const batch = this.pending.splice(0, this.maxBatch);
    try {
      const observe = this.onAppended;
      const started = observe ? performance.now() : 0;
      const results = await this.store.append(
        batch.map((p) => p.message),
        this.quotas,
      );
      if (observe) observe((performance.now() - started) / 1000, batch.length);
      for (let i = 0; i < batch.length; i++) {
        const result = results[i];
        if (result.refused !== undefined) {
          // Nothing stored for this one; the rest of the batch is unaffected.
          batch[i].reject(this.onRefused(result));
          continue;
        }
        try {
          this.onCommitted(result);
        } catch (err) {
          // Durable all the same: a resend finds it. Only this submitter hears of it.
          batch[i].reject(err);
          continue;
        }
        batch[i].resolve(result);
      }
    } catch (err) {
      // Not committed (or, for a connection lost during COMMIT, unknown): no submitter is acked.
      const failure = this.onFailed(err);
      for (const p of batch) p.reject(failure);
    }
  }
}
