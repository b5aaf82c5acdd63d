import type { StorageLike } from './local-storage-last-seq.store.js';
import type { OutboxEntry, OutboxStore } from './outbox.store.js';

/**
 * An OutboxStore in the browser's localStorage, as JSON, so a reloaded page sends the messages it
 * had not seen acknowledged: `new LocalStorageOutboxStore(\`longlink:outbox:${uid}\`)`. The
 * content must be JSON (it is sent as JSON anyway). Synchronous, like localStorage.
 */
export class LocalStorageOutboxStore implements OutboxStore {
  private readonly storage: StorageLike;

  constructor(
    private readonly key: string,
    storage?: StorageLike,
  ) {
    const found = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (found === undefined) throw new Error('LocalStorageOutboxStore: no localStorage here');
    this.storage = found;
  }

  load(): OutboxEntry[] {
    const raw = this.storage.getItem(this.key);
    if (raw === null) return [];
    try {
      const parsed: unknown = JSON.parse(raw);
      // Anything not written by save() is dropped rather than sent.
      return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
    } catch {
      return [];
    }
  }

  save(entries: readonly OutboxEntry[]): void {
    this.storage.setItem(this.key, JSON.stringify(entries));
  }
}

function isEntry(value: unknown): value is OutboxEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.clientMsgId === 'string' &&
    typeof entry.to === 'string' &&
    typeof entry.queuedAt === 'number' &&
    'content' in entry
  );
}
