/**
 * Hands values to a store's save() one at a time, always the newest: a slow store sees fewer
 * writes, never out-of-order ones. Used for the held inbox seq and for the outbox.
 */
export class LatestValueWriter<T> {
  private wanted: T | undefined;
  private pending = false;
  private saving: Promise<void> | undefined;

  constructor(
    private readonly save: (value: T) => void | Promise<void>,
    private readonly onError: (error: unknown) => void,
  ) {}

  write(value: T): void {
    this.wanted = value;
    this.pending = true;
    this.saving ??= this.run();
  }

  /** Resolves when every requested write has been attempted. */
  async idle(): Promise<void> {
    while (this.saving !== undefined) await this.saving;
  }

  private async run(): Promise<void> {
    while (this.pending) {
      this.pending = false;
      try {
        await this.save(this.wanted as T);
      } catch (error) {
        this.onError(error);
      }
    }
    this.saving = undefined;
  }
}
