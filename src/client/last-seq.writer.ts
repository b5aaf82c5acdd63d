import type { LastSeqStore } from './last-seq.store.js';

/**
 * Writes the held seq to a LastSeqStore one save at a time, always the newest value: a slow store
 * sees fewer writes, never out-of-order ones.
 */
export class LastSeqWriter {
  private wanted: number | undefined;
  private saving: Promise<void> | undefined;

  constructor(
    private readonly store: LastSeqStore,
    private readonly onError: (error: unknown) => void,
  ) {}

  write(seq: number): void {
    this.wanted = seq;
    this.saving ??= this.run();
  }

  /** Resolves when every requested write has been attempted. */
  async idle(): Promise<void> {
    while (this.saving !== undefined) await this.saving;
  }

  private async run(): Promise<void> {
    let saved: number | undefined;
    while (this.wanted !== saved && this.wanted !== undefined) {
      saved = this.wanted;
      try {
        await this.store.save(saved);
      } catch (error) {
        this.onError(error);
      }
    }
    this.saving = undefined;
  }
}
