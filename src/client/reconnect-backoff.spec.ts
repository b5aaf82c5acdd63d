import { ReconnectBackoff } from './reconnect-backoff';

describe('ReconnectBackoff', () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };

  it('doubles the delay per attempt up to the ceiling (no randomness drawn: the full delay)', () => {
    const backoff = new ReconnectBackoff(options, () => 0);
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.attempts).toBe(6);
  });

  it('takes off up to `jitter` of each delay, so clients dropped together spread out', () => {
    const backoff = new ReconnectBackoff(options, () => 1);
    expect([backoff.next(), backoff.next()]).toEqual([50, 100]);
  });

  it('starts over from the shortest delay after reset()', () => {
    const backoff = new ReconnectBackoff(options, () => 0);
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.next()).toBe(100);
    expect(backoff.attempts).toBe(1);
  });
});
