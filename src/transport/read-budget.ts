/** Bytes that may be read per window, per connection and per IP, before and after login. */
export interface ReadBudgetOptions {
  /** The window the four budgets are stated in. */
  intervalMs: number;
  /** One logged-in connection. */
  maxBytes: number;
  /** All logged-in connections of one IP together. */
  maxIpBytes: number;
  /** One connection that has not logged in. */
  maxPreLoginBytes: number;
  /** All connections of one IP that have not logged in, together. */
  maxPreLoginIpBytes: number;
}

/**
 * A leaky bucket of bytes read: it fills with each read and drains `max` per
 * interval; above `max` the reader waits until it has drained back to `max`.
 * A read is counted after it happened (its size is known only then), so the
 * level may overshoot: the overshoot is what the reader waits off. The level,
 * not a balance, is kept, so a connection that logs in keeps what it spent and
 * is measured against the larger budget from then on.
 */
export class ByteBucket {
  private level = 0;
  private at: number;

  constructor(now: number) {
    this.at = now;
  }

  /** Adds `bytes` (0 to look); returns the ms to wait before reading again (0: go on). */
  take(bytes: number, now: number, max: number, intervalMs: number): number {
    if (now > this.at) {
      this.level = Math.max(0, this.level - ((now - this.at) * max) / intervalMs);
      this.at = now;
    }
    this.level += bytes;
    return this.level <= max ? 0 : Math.ceil(((this.level - max) * intervalMs) / max);
  }
}

/** The buckets shared by the connections of one IP. */
export class IpReadState {
  connections = 0;
  readonly loggedIn: ByteBucket;
  readonly preLogin: ByteBucket;

  constructor(now: number) {
    this.loggedIn = new ByteBucket(now);
    this.preLogin = new ByteBucket(now);
  }
}

/** What the budget needs of a connection. */
export interface BudgetedReader {
  readonly loggedIn: boolean;
  readonly readBucket: ByteBucket;
  readonly ipReads: IpReadState;
}

/**
 * Traffic shaping by bytes, beside the frame budget: once a connection or its
 * IP has been read more than its budget, the connection stops reading until
 * the debt is paid off (the kernel meanwhile pushes back on the sender).
 * Nothing is answered and nothing is dropped, so an honest client going fast is
 * only slowed, while a flood costs the gateway no more than the budget on
 * average: reading is the one cost no check after it can take back. Before
 * login the budgets are far smaller (a LOGIN and heartbeats need a few KiB).
 */
export class ReadBudget {
  private readonly ips = new Map<string, IpReadState>();

  constructor(private readonly options: ReadBudgetOptions) {}

  /** The state of `address`'s connections; `release` it when the connection closes. */
  attach(address: string, now: number): IpReadState {
    let state = this.ips.get(address);
    if (state === undefined) {
      state = new IpReadState(now);
      this.ips.set(address, state);
    }
    state.connections++;
    return state;
  }

  release(address: string, state: IpReadState): void {
    if (--state.connections === 0 && this.ips.get(address) === state) this.ips.delete(address);
  }

  /**
   * Counts a read; returns how long (ms) the connection must stop reading, 0 to go on.
   * With 0 bytes: whether a paused connection may read again, since the other
   * connections of its IP may have read meanwhile.
   */
  charge(reader: BudgetedReader, bytes: number, now: number): number {
    const o = this.options;
    const ip = reader.ipReads;
    // Two pools per IP: a flood before login never slows the logged-in users behind the same NAT.
    if (reader.loggedIn) {
      return Math.max(
        reader.readBucket.take(bytes, now, o.maxBytes, o.intervalMs),
        ip.loggedIn.take(bytes, now, o.maxIpBytes, o.intervalMs),
      );
    }
    return Math.max(
      reader.readBucket.take(bytes, now, o.maxPreLoginBytes, o.intervalMs),
      ip.preLogin.take(bytes, now, o.maxPreLoginIpBytes, o.intervalMs),
    );
  }

  /** IPs with open connections (state is released with the last one). */
  get trackedIps(): number {
    return this.ips.size;
  }
}
