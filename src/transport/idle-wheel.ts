/** An entry whose deadline only ever moves later (lastTick is refreshed, never rewound). */
export interface WheelEntry {
  wheelSlot: number;
  deadline(): number;
}

/** wheelSlot of an entry found expired and waiting its turn in `expiring`. */
const EXPIRING = -2;

/**
 * A lazy timing wheel for idle and login deadlines. Receiving a frame only writes
 * lastTick (O(1), no timer touched); each slot is swept once per turn of the
 * wheel, and an entry whose deadline moved on is re-slotted. One interval timer
 * serves every connection, so a million connections cost a million small Set
 * entries, not a million timers re-armed per packet. At most maxExpiresPerTurn
 * entries expire per event-loop turn (the rest in the next turns): thousands of
 * connections opened together reach their deadline together, and kicking them
 * all at once held the loop for tens of milliseconds.
 */
export class IdleWheel<T extends WheelEntry> {
  private readonly slots: Set<T>[];
  private cursor = 0;
  private cursorTime: number;
  private timer: NodeJS.Timeout | null = null;
  /** Found expired, not yet handed to onExpire; entries removed meanwhile are skipped. */
  private expiring: T[] = [];
  private drainLater: NodeJS.Immediate | null = null;

  constructor(
    private readonly tickMs: number,
    horizonMs: number,
    private readonly onExpire: (entry: T, now: number) => void,
    now = Date.now(),
    private readonly maxExpiresPerTurn = Infinity,
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
    if (this.drainLater) clearImmediate(this.drainLater);
    this.drainLater = null;
    for (const entry of this.expiring) if (entry.wheelSlot === EXPIRING) entry.wheelSlot = -1;
    this.expiring = [];
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
    entry.wheelSlot = -1; // also drops it from `expiring`
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
        if (deadline <= now) {
          entry.wheelSlot = EXPIRING;
          this.expiring.push(entry);
        } else this.place(entry, deadline);
      }
    }
    if (this.expiring.length > 0 && this.drainLater === null) this.drain(now);
  }

  /** Expires up to maxExpiresPerTurn queued entries; the rest wait for the next turn. */
  private drain(now: number): void {
    let budget = this.maxExpiresPerTurn;
    let i = 0;
    for (; i < this.expiring.length && budget > 0; i++) {
      const entry = this.expiring[i];
      if (entry.wheelSlot !== EXPIRING) continue; // removed, or added again, meanwhile
      entry.wheelSlot = -1;
      // A frame may have arrived while it waited.
      const deadline = entry.deadline();
      if (deadline > now) {
        this.place(entry, deadline);
        continue;
      }
      budget--;
      this.onExpire(entry, now);
    }
    this.expiring.splice(0, i);
    this.drainLater =
      this.expiring.length > 0
        ? setImmediate(() => {
            this.drainLater = null;
            // The sweep's time: whatever was due then still is (and tests drive the clock).
            this.drain(now);
          })
        : null;
  }

  private place(entry: T, deadline: number): void {
    const ahead = Math.ceil((deadline - this.cursorTime) / this.tickMs);
    const steps = Math.min(Math.max(ahead, 1), this.slots.length - 1);
    const index = (this.cursor + steps) % this.slots.length;
    this.slots[index].add(entry);
    entry.wheelSlot = index;
  }
}
