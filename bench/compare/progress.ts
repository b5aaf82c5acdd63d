/**
 * A one-line progress bar on stderr: the share of the run's estimated time done,
 * the current step, elapsed time. Lines logged meanwhile are printed above it.
 * Without a terminal it prints one line per step instead.
 */
export class Progress {
  private done = 0;
  private current = 0;
  private stepStart = Date.now();
  private readonly t0 = Date.now();
  private label = 'starting';
  private timer: NodeJS.Timeout | undefined;
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private total: number,
    private readonly enabled: boolean,
  ) {
    if (enabled && this.tty) {
      this.timer = setInterval(() => this.draw(), 250);
      this.timer.unref();
    }
  }

  /** Adds work to the estimate (seconds). */
  grow(seconds: number): void {
    this.total += seconds;
  }

  /** Starts a step expected to take `seconds`. */
  step(label: string, seconds: number): void {
    this.done += this.current;
    this.current = seconds;
    this.stepStart = Date.now();
    this.label = label;
    if (!this.enabled) return;
    if (this.tty) this.draw();
    else process.stderr.write(`[${this.percent().toFixed(0).padStart(3)}%] ${label}\n`);
  }

  log(line: string): void {
    if (this.enabled && this.tty) process.stderr.write('\r\x1b[2K');
    process.stderr.write(`${line}\n`);
    if (this.enabled && this.tty) this.draw();
  }

  finish(): void {
    clearInterval(this.timer);
    this.done += this.current;
    this.current = 0;
    if (this.enabled && this.tty) {
      this.label = 'done';
      this.draw();
      process.stderr.write('\n');
    }
  }

  private percent(): number {
    const inStep = Math.min(this.current, (Date.now() - this.stepStart) / 1000);
    return Math.min(100, (100 * (this.done + inStep)) / Math.max(1, this.total));
  }

  private draw(): void {
    const width = 30;
    const p = this.percent();
    const filled = Math.round((p / 100) * width);
    const elapsed = Math.round((Date.now() - this.t0) / 1000);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.toFixed(0).padStart(3)}% ${elapsed}s ${this.label}`;
    const columns = process.stderr.columns ?? 100;
    process.stderr.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
  }
}
