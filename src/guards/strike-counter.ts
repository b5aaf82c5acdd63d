/**
 * Counts strikes per key (an IP address) within a fixed window that starts at
 * the key's first strike; the strike that reaches the limit is reported once and
 * the count starts over. Used for failed logins and for rate-limit kicks.
 */
export class StrikeCounter {
  private strikes = new Map<string, { count: number; since: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Records a strike; true when it is the limit-th within the window. */
  record(key: string, now: number): boolean {
    let entry = this.strikes.get(key);
    if (!entry || now - entry.since >= this.windowMs) {
      entry = { count: 0, since: now };
      this.strikes.set(key, entry);
      this.forgetOld(now);
    }
    if (++entry.count < this.limit) return false;
    this.strikes.delete(key);
    return true;
  }

  /** Drops windows that ended, so a scan of many addresses cannot grow the map without bound. */
  private forgetOld(now: number): void {
    if (this.strikes.size < 1024) return;
    for (const [key, entry] of this.strikes) {
      if (now - entry.since >= this.windowMs) this.strikes.delete(key);
    }
  }
}
