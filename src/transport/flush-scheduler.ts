/** Something with bytes queued for the socket. */
export interface Flushable {
  flushQueued: boolean;
  flush(): void;
}

/**
 * Coalesces every reply and push a connection gets within one event-loop turn
 * into one socket write. setImmediate runs after the poll phase, so the replies
 * of all frames read in this turn (and their promise continuations) are queued
 * by then; process.nextTick would run before async handlers have answered.
 */
export class FlushScheduler {
  private queue: Flushable[] = [];
  private scheduled = false;
  private readonly run = () => this.flushAll();

  schedule(item: Flushable): void {
    if (item.flushQueued) return;
    item.flushQueued = true;
    this.queue.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  flushAll(): void {
    this.scheduled = false;
    const items = this.queue;
    this.queue = [];
    for (let i = 0; i < items.length; i++) {
      items[i].flushQueued = false;
      items[i].flush();
    }
  }
}
