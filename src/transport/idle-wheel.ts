/** An entry whose deadline only ever moves later (lastTick is refreshed, never rewound). */
export interface WheelEntry {
  wheelSlot: number;
  deadline(): number;
}

/**
 * A lazy timing wheel for idle and login deadlines. Receiving a frame only writes
 * lastTick (O(1), no timer touched); each slot is swept once per turn of the
 * wheel, and an entry whose deadline moved on is re-slotted. One interval timer
 * serves every connection, so a million connections cost a million small Set
 * entries, not a million timers re-armed per packet.
 */
export class IdleWheel<T extends WheelEntry> {
  private readonly slots: Set<T>[];
  private cursor = 0;
  private cursorTime: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly tickMs: number,
    horizonMs: number,
    private readonly onExpire: (entry: T, now: number) => void,
    now = Date.now(),
  ) {
    const size = Math.ceil(horizonMs / tickMs) + 2;
    this.slots = Array.from({ length: size }, () => new Set<T>());
    this.cursorTime = now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.advance(Date.now()), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get size(): number {
    let n = 0;
    for (const slot of this.slots) n += slot.size;
    return n;
  }

  add(entry: T): void {
    this.place(entry, entry.deadline());
  }

  remove(entry: T): void {
    if (entry.wheelSlot >= 0) this.slots[entry.wheelSlot].delete(entry);
    entry.wheelSlot = -1;
  }

  /** Sweeps every slot whose time has come, up to `now`. */
  advance(now: number): void {
    while (this.cursorTime + this.tickMs <= now) {
      this.cursorTime += this.tickMs;
      this.cursor = (this.cursor + 1) % this.slots.length;
      const slot = this.slots[this.cursor];
      if (slot.size === 0) continue;
      this.slots[this.cursor] = new Set();
      for (const entry of slot) {
        // remove() during this sweep (from onExpire) marks the entry; honour it.
        if (entry.wheelSlot !== this.cursor) continue;
        entry.wheelSlot = -1;
        const deadline = entry.deadline();
        if (deadline <= now) this.onExpire(entry, now);
        else this.place(entry, deadline);
      }
    }
  }

  private place(entry: T, deadline: number): void {
    const ahead = Math.ceil((deadline - this.cursorTime) / this.tickMs);
    const steps = Math.min(Math.max(ahead, 1), this.slots.length - 1);
    const index = (this.cursor + steps) % this.slots.length;
    this.slots[index].add(entry);
    entry.wheelSlot = index;
  }
}
