/**
 * Where the client keeps the highest inbox seq the application has processed, so that after a
 * restart it resumes right after it (LOGIN `lastSeq`, docs/PROTOCOL.md §4.6) instead of
 * at whatever the server last saw acknowledged. Keep one per user and device, ideally next
 * to the messages themselves, so the two cannot disagree.
 */
export interface LastSeqStore {
  /** The saved seq, or undefined on a fresh install. */
  load(): number | undefined | Promise<number | undefined>;
  /** Called with increasing seqs (or a lower one after the server's inbox was reset), one at a time. */
  save(seq: number): void | Promise<void>;
}
