import { ByteBucket, BudgetedReader, ReadBudget, ReadBudgetOptions } from './read-budget';

const OPTIONS: ReadBudgetOptions = {
  intervalMs: 1000,
  maxBytes: 1000,
  maxIpBytes: 3000,
  maxPreLoginBytes: 100,
  maxPreLoginIpBytes: 250,
};

function reader(budget: ReadBudget, address: string, now: number, loggedIn = false) {
  return { loggedIn, readBucket: new ByteBucket(now), ipReads: budget.attach(address, now) };
}

describe('ByteBucket', () => {
  it('lets a full budget through, then waits off exactly the debt', () => {
    const bucket = new ByteBucket(0);
    expect(bucket.take(1000, 0, 1000, 1000)).toBe(0);
    // 500 bytes over a 1000-per-second budget: half a second.
    expect(bucket.take(500, 0, 1000, 1000)).toBe(500);
    expect(bucket.take(0, 250, 1000, 1000)).toBe(250);
    expect(bucket.take(0, 500, 1000, 1000)).toBe(0);
  });

  it('drains at the budget per interval, never below empty', () => {
    const bucket = new ByteBucket(0);
    bucket.take(1000, 0, 1000, 1000);
    expect(bucket.take(400, 400, 1000, 1000)).toBe(0);
    expect(bucket.take(1, 400, 1000, 1000)).toBe(1);
    // A long idle spell refills one budget, not ten.
    expect(bucket.take(1000, 10_000, 1000, 1000)).toBe(0);
    expect(bucket.take(100, 10_000, 1000, 1000)).toBe(100);
  });
});

describe('ReadBudget', () => {
  it('holds a connection that has not logged in to the small pre-login budget', () => {
    const budget = new ReadBudget(OPTIONS);
    const conn = reader(budget, '10.0.0.1', 0);
    expect(budget.charge(conn, 100, 0)).toBe(0);
    expect(budget.charge(conn, 50, 0)).toBe(500);
  });

  it('measures what a connection read before login against the larger budget after it', () => {
    const budget = new ReadBudget(OPTIONS);
    const conn = { ...reader(budget, '10.0.0.1', 0), loggedIn: false };
    expect(budget.charge(conn, 100, 0)).toBe(0);
    conn.loggedIn = true;
    expect(budget.charge(conn, 900, 0)).toBe(0);
    expect(budget.charge(conn, 10, 0)).toBe(10);
  });

  it('gives a logged-in connection its own, larger budget', () => {
    const budget = new ReadBudget(OPTIONS);
    const conn: BudgetedReader = reader(budget, '10.0.0.1', 0, true);
    expect(budget.charge(conn, 1000, 0)).toBe(0);
    expect(budget.charge(conn, 100, 0)).toBe(100);
  });

  it("shares the IP's pre-login budget among its connections, and not with other IPs", () => {
    const budget = new ReadBudget(OPTIONS);
    const a = reader(budget, '10.0.0.1', 0);
    const b = reader(budget, '10.0.0.1', 0);
    const other = reader(budget, '10.0.0.2', 0);
    expect(budget.charge(a, 100, 0)).toBe(0);
    expect(budget.charge(b, 100, 0)).toBe(0);
    const c = reader(budget, '10.0.0.1', 0);
    // 300 of 250 for the IP: c waits though its own bucket is untouched.
    expect(budget.charge(c, 100, 0)).toBe(200);
    expect(budget.charge(other, 100, 0)).toBe(0);
  });

  it('makes a paused connection wait on while others of its IP spent the budget (0 bytes: look)', () => {
    const budget = new ReadBudget(OPTIONS);
    const [a, b, c] = [1, 2, 3].map(() => reader(budget, '10.0.0.1', 0));
    expect(budget.charge(a, 100, 0)).toBe(0);
    expect(budget.charge(b, 100, 0)).toBe(0);
    expect(budget.charge(c, 100, 0)).toBe(200);
    // Meanwhile b read again: when c's wait is over, the IP is in debt still.
    expect(budget.charge(b, 50, 100)).toBeGreaterThan(0);
    expect(budget.charge(c, 0, 200)).toBeGreaterThan(0);
    expect(budget.charge(c, 0, 2000)).toBe(0);
  });

  it('caps the logged-in connections of an IP together, apart from its pre-login ones', () => {
    const budget = new ReadBudget(OPTIONS);
    const conns = [1, 2, 3, 4].map(() => reader(budget, '10.0.0.1', 0, true));
    expect(conns.slice(0, 3).map((c) => budget.charge(c, 1000, 0))).toEqual([0, 0, 0]);
    expect(budget.charge(conns[3], 300, 0)).toBe(100);
    // Bytes before login come from their own pool: they never slow the logged-in users.
    const fresh = reader(budget, '10.0.0.1', 0);
    expect(budget.charge(fresh, 100, 0)).toBe(0);
  });

  it('forgets an IP with its last connection', () => {
    const budget = new ReadBudget(OPTIONS);
    const a = reader(budget, '10.0.0.1', 0);
    const b = reader(budget, '10.0.0.1', 0);
    expect(budget.trackedIps).toBe(1);
    budget.release('10.0.0.1', a.ipReads);
    expect(budget.trackedIps).toBe(1);
    budget.release('10.0.0.1', b.ipReads);
    expect(budget.trackedIps).toBe(0);
  });
});
