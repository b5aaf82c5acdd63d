import type { LastSeqStore } from './last-seq.store.js';

/**
 * The default LastSeqStore: kept for the life of the object. Reconnects of one client resume
 * exactly; a restarted process falls back to the server's acknowledged seq. Share one between
 * clients (or pass `initial`) to carry it further.
 */
export class MemoryLastSeqStore implements LastSeqStore {
  constructor(private seq?: number) {}

  load(): number | undefined {
    return this.seq;
  }

  save(seq: number): void {
    this.seq = seq;
  }
}
