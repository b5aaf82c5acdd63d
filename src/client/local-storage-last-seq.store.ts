import type { LastSeqStore } from './last-seq.store.js';

/** The part of the Web Storage API used here (localStorage, sessionStorage, a test double). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * A LastSeqStore in the browser's localStorage, so a reloaded page resumes right after the last
 * message it processed. Use one key per user (and per device, which a browser profile is):
 * `new LocalStorageLastSeqStore(\`longlink:lastSeq:${uid}\`)`. Synchronous, like localStorage.
 */
export class LocalStorageLastSeqStore implements LastSeqStore {
  private readonly storage: StorageLike;

  constructor(
    private readonly key: string,
    storage?: StorageLike,
  ) {
    const found = storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
    if (found === undefined) throw new Error('LocalStorageLastSeqStore: no localStorage here');
    this.storage = found;
  }

  load(): number | undefined {
    const raw = this.storage.getItem(this.key);
    if (raw === null) return undefined;
    const seq = Number(raw);
    // Anything else was not written by save(): start afresh rather than resume at garbage.
    return Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
  }

  save(seq: number): void {
    this.storage.setItem(this.key, String(seq));
  }
}
