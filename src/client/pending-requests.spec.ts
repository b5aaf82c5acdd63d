import { PendingRequests } from './pending-requests';

describe('PendingRequests', () => {
  it('numbers requests from 1, skipping 0 and seqs still in flight when it wraps', async () => {
    const pending = new PendingRequests();
    expect(pending.nextSeq()).toBe(1);
    const inFlight = pending.add(1, 3, 1000);
    (pending as unknown as { lastSeq: number }).lastSeq = 0xffff_ffff;
    expect(pending.nextSeq()).toBe(2); // not 0, not 1 (in flight)
    pending.resolve(1, undefined);
    await inFlight;
  });

  it('settles each request once: by reply, then a late duplicate is refused', async () => {
    const pending = new PendingRequests();
    const answer = pending.add(5, 1001, 1000);
    expect(pending.resolve(5, { ok: 1 })).toBe(true);
    expect(pending.resolve(5, { ok: 2 })).toBe(false);
    await expect(answer).resolves.toEqual({ ok: 1 });
    expect(pending.size).toBe(0);
  });

  it('rejects with timeout, naming the op, and forgets the request', async () => {
    const pending = new PendingRequests();
    await expect(pending.add(1, 16, 10)).rejects.toMatchObject({
      code: 'timeout',
      message: 'no answer to SEND within 10 ms',
    });
    expect(pending.resolve(1, {})).toBe(false);
  });

  it('rejects the promise when the synchronous reply handler throws', async () => {
    const pending = new PendingRequests();
    const answer = pending.add(1, 19, 1000, () => {
      throw new Error('bad reply');
    });
    expect(pending.resolve(1, {})).toBe(true);
    await expect(answer).rejects.toThrow('bad reply');
  });
});
