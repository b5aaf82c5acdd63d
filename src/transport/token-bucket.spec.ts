import { TokenBucket } from './token-bucket';

describe('TokenBucket', () => {
  const perMs = 10 / 1000; // 10 per second

  it('admits a burst, then one frame per 1/rate', () => {
    const b = new TokenBucket(3, 0);
    expect([b.take(0, perMs, 3), b.take(0, perMs, 3), b.take(0, perMs, 3)]).toEqual([0, 0, 0]);
    expect(b.take(0, perMs, 3)).toBe(100);
    expect(b.take(50, perMs, 3)).toBe(50);
    expect(b.take(100, perMs, 3)).toBe(0);
    expect(b.take(100, perMs, 3)).toBe(100);
  });

  it('refills up to the burst, never beyond', () => {
    const b = new TokenBucket(2, 0);
    b.take(0, perMs, 2);
    b.take(0, perMs, 2);
    expect(b.take(60_000, perMs, 2)).toBe(0);
    expect(b.take(60_000, perMs, 2)).toBe(0);
    expect(b.take(60_000, perMs, 2)).toBeGreaterThan(0);
  });

  it('piles up refusals only when the client sends at more than twice the rate', () => {
    const atTwice = new TokenBucket(1, 0);
    const atFour = new TokenBucket(1, 0);
    for (let t = 0; t < 10_000; t += 50) atTwice.take(t, perMs, 1); // 20/s
    for (let t = 0; t < 10_000; t += 25) atFour.take(t, perMs, 1); // 40/s
    expect(atTwice.refused).toBeLessThan(3);
    expect(atFour.refused).toBeGreaterThan(150);
  });

  it('counts what it admitted for the cluster sync, and is idle once full again', () => {
    const b = new TokenBucket(5, 0);
    b.take(0, perMs, 5);
    b.take(0, perMs, 5);
    expect(b.spent).toBe(2);
    expect(b.idle(1000, perMs, 5)).toBe(false);
    b.spent = 0;
    expect(b.idle(100, perMs, 5)).toBe(false);
    expect(b.idle(200, perMs, 5)).toBe(true);
  });
});
