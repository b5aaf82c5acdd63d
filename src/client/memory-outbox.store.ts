import type { OutboxEntry, OutboxStore } from './outbox.store.js';

/**
 * The default OutboxStore: kept for the life of the object. Pending messages survive reconnects
 * and a close() followed by connect(); share one between client instances to hand them over.
 */
export class MemoryOutboxStore implements OutboxStore {
  private entries: readonly OutboxEntry[] = [];

  load(): readonly OutboxEntry[] {
    return this.entries;
  }

  save(entries: readonly OutboxEntry[]): void {
    this.entries = [...entries];
  }
}
