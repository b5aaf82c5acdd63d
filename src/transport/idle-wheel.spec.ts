import fc from 'fast-check';
import { mulberry32 } from '../../test/support/prng';
import { IdleWheel, WheelEntry } from './idle-wheel.js';

/** A connection stand-in whose deadline the test moves by hand. */
class Entry implements WheelEntry {
  wheelSlot = -1;
  constructor(
    public due: number,
    readonly name = '',
  ) {}
  deadline(): number {
    return this.due;
  }
}

const TICK = 100;
const HORIZON = 1000;

interface Expiry {
  entry: Entry;
  now: number;
}

function wheel(start = 0, onExpire?: (entry: Entry, now: number) => void) {
  const expired: Expiry[] = [];
  const w = new IdleWheel<Entry>(
    TICK,
    HORIZON,
    (entry, now) => {
      expired.push({ entry, now });
      onExpire?.(entry, now);
    },
    start,
  );
  return { w, expired };
}

/** Advances 1 ms at a time and returns the first `now` at which `entry` expired. */
function expiryTime(
  w: IdleWheel<Entry>,
  expired: Expiry[],
  entry: Entry,
  from: number,
  to: number,
): number | undefined {
  for (let now = from; now <= to; now++) {
    w.advance(now);
    const hit = expired.find((e) => e.entry === entry);
    if (hit) return hit.now;
  }
  return undefined;
}

describe('IdleWheel', () => {
  describe('at most maxExpiresPerTurn expiries per turn', () => {
    const nextTurn = () => new Promise((r) => setImmediate(r));

    it('expires the rest in later turns, skipping entries removed or refreshed meanwhile', async () => {
      const expired: Entry[] = [];
      const w = new IdleWheel<Entry>(TICK, HORIZON, (e) => expired.push(e), 0, 2);
      const entries = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => new Entry(50, name));
      for (const e of entries) w.add(e);
      w.advance(100);
      expect(expired.map((e) => e.name)).toEqual(['a', 'b']);
      w.remove(entries[2]); // c closed by itself
      entries[3].due = 10_000; // d received a frame
      await nextTurn();
      expect(expired.map((e) => e.name)).toEqual(['a', 'b', 'e', 'f']);
      // d went back on the wheel with its new deadline; c is gone.
      expect(w.size).toBe(1);
      w.advance(9_900);
      expect(expired.map((e) => e.name)).not.toContain('d');
      w.advance(10_100);
      expect(expired.map((e) => e.name)).toEqual(['a', 'b', 'e', 'f', 'd']);
      w.stop();
    });

    it('drops what is still queued when stopped', async () => {
      const expired: Entry[] = [];
      const w = new IdleWheel<Entry>(TICK, HORIZON, (e) => expired.push(e), 0, 1);
      for (let i = 0; i < 5; i++) w.add(new Entry(50));
      w.advance(100);
      w.stop();
      await nextTurn();
      expect(expired).toHaveLength(1);
    });
  });

  it('does not expire an entry before its deadline', () => {
    const { w, expired } = wheel();
    w.add(new Entry(250));
    w.advance(249);
    expect(expired).toEqual([]);
    expect(w.size).toBe(1);
  });

  it('expires an entry once its deadline has passed, within one tick', () => {
    const { w, expired } = wheel();
    const e = new Entry(250);
    w.add(e);
    const at = expiryTime(w, expired, e, 1, 1000);
    expect(at).toBeGreaterThanOrEqual(250);
    expect(at).toBeLessThan(250 + TICK);
    expect(w.size).toBe(0);
  });

  it('passes the entry and the current time to onExpire, once', () => {
    const { w, expired } = wheel();
    const e = new Entry(100);
    w.add(e);
    w.advance(130);
    w.advance(500);
    expect(expired).toEqual([{ entry: e, now: 130 }]);
  });

  it('expires an entry whose deadline lies exactly on a tick at that tick', () => {
    const { w, expired } = wheel();
    const e = new Entry(300);
    w.add(e);
    w.advance(299);
    expect(expired).toEqual([]);
    w.advance(300);
    expect(expired.map((x) => x.entry)).toEqual([e]);
  });

  it('expires an entry added with a deadline already past at the next tick', () => {
    const { w, expired } = wheel(1000);
    const e = new Entry(500);
    w.add(e);
    w.advance(1099);
    expect(expired).toEqual([]);
    w.advance(1100);
    expect(expired.map((x) => x.entry)).toEqual([e]);
  });

  it('re-slots an entry whose deadline moved later instead of expiring it', () => {
    const { w, expired } = wheel();
    const e = new Entry(250);
    w.add(e);
    w.advance(200);
    e.due = 620; // a frame arrived: lastTick refreshed
    w.advance(300);
    expect(expired).toEqual([]);
    expect(w.size).toBe(1);
    const at = expiryTime(w, expired, e, 301, 2000);
    expect(at).toBeGreaterThanOrEqual(620);
    expect(at).toBeLessThan(620 + TICK);
  });

  it('keeps re-slotting an entry refreshed again and again, and expires it after the last refresh', () => {
    const { w, expired } = wheel();
    const e = new Entry(150);
    w.add(e);
    for (let now = 1; now <= 3000; now++) {
      if (now % 50 === 0) e.due = now + 150; // refreshed every 50 ms up to t=3000
      w.advance(now);
    }
    expect(expired).toEqual([]);
    const at = expiryTime(w, expired, e, 3001, 5000);
    expect(at).toBeGreaterThanOrEqual(3150);
    expect(at).toBeLessThan(3150 + TICK);
  });

  it('handles a deadline beyond the horizon by re-slotting until it comes due', () => {
    const { w, expired } = wheel();
    const e = new Entry(4321);
    w.add(e);
    const at = expiryTime(w, expired, e, 1, 10_000);
    expect(at).toBeGreaterThanOrEqual(4321);
    expect(at).toBeLessThan(4321 + TICK);
  });

  it('catches up on a long pause in one advance call, expiring what came due', () => {
    const { w, expired } = wheel();
    const a = new Entry(250);
    const b = new Entry(5000);
    const c = new Entry(20_000);
    w.add(a);
    w.add(b);
    w.add(c);
    w.advance(10_000);
    expect(expired.map((x) => x.entry)).toEqual([a, b]);
    expect(expired.every((x) => x.now === 10_000)).toBe(true);
    expect(w.size).toBe(1);
    const at = expiryTime(w, expired, c, 10_001, 30_000);
    expect(at).toBeGreaterThanOrEqual(20_000);
    expect(at).toBeLessThan(20_000 + TICK);
  });

  it('does nothing when time goes backwards', () => {
    const { w, expired } = wheel(1000);
    w.add(new Entry(1050));
    w.advance(500);
    w.advance(0);
    expect(expired).toEqual([]);
    expect(w.size).toBe(1);
  });

  it('never expires a removed entry', () => {
    const { w, expired } = wheel();
    const e = new Entry(250);
    const other = new Entry(250);
    w.add(e);
    w.add(other);
    w.remove(e);
    w.advance(5000);
    expect(expired.map((x) => x.entry)).toEqual([other]);
    expect(e.wheelSlot).toBe(-1);
  });

  it('allows remove() twice, and remove() of an entry never added or already expired', () => {
    const { w, expired } = wheel();
    const e = new Entry(100);
    w.remove(new Entry(100));
    w.add(e);
    w.advance(200);
    expect(expired).toHaveLength(1);
    expect(e.wheelSlot).toBe(-1);
    w.remove(e);
    w.remove(e);
    expect(w.size).toBe(0);
  });

  it('expires an entry again after it was removed and added back', () => {
    const { w, expired } = wheel();
    const e = new Entry(250);
    w.add(e);
    w.remove(e);
    e.due = 450;
    w.add(e);
    const at = expiryTime(w, expired, e, 1, 2000);
    expect(at).toBeGreaterThanOrEqual(450);
    expect(at).toBeLessThan(450 + TICK);
    expect(expired).toHaveLength(1);
  });

  it('lets onExpire add the expired entry back with a later deadline', () => {
    const { w, expired } = wheel(0, (entry) => {
      if (entry.due === 200) {
        entry.due = 700;
        w.add(entry);
      }
    });
    const e = new Entry(200);
    w.add(e);
    for (let now = 1; now <= 2000; now++) w.advance(now);
    expect(expired.map((x) => x.now)).toEqual([200, 700]);
  });

  // Known defect (see report): the sweep iterates a detached Set, so remove() of an
  // entry of the same slot from inside onExpire is lost and that entry still expires.
  it('never expires an entry removed by onExpire during the same sweep', () => {
    const a = new Entry(250, 'a');
    const b = new Entry(260, 'b');
    const { w, expired } = wheel(0, (entry) => {
      if (entry === a) w.remove(b);
    });
    w.add(a);
    w.add(b);
    w.advance(300);
    expect(expired.map((x) => x.entry.name)).toEqual(['a']);
  });

  // Same defect: a removed entry whose deadline moved on is put back into the wheel.
  it('does not put back an entry removed by onExpire whose deadline moved on', () => {
    const a = new Entry(250, 'a');
    const b = new Entry(260, 'b');
    const { w } = wheel(0, (entry) => {
      if (entry === a) {
        b.due = 900;
        w.remove(b);
      }
    });
    w.add(a);
    w.add(b);
    w.advance(300);
    expect(w.size).toBe(0);
  });

  describe('size', () => {
    it('counts added entries, and drops expired and removed ones', () => {
      const { w } = wheel();
      const entries = [100, 200, 300, 5000, 9000].map((d) => new Entry(d));
      expect(w.size).toBe(0);
      for (const e of entries) w.add(e);
      expect(w.size).toBe(5);
      w.remove(entries[4]);
      expect(w.size).toBe(4);
      w.advance(250);
      expect(w.size).toBe(2);
      w.advance(300);
      expect(w.size).toBe(1);
      w.advance(6000);
      expect(w.size).toBe(0);
    });

    it('does not change when an entry is re-slotted', () => {
      const { w } = wheel();
      const e = new Entry(150);
      w.add(e);
      e.due = 800;
      w.advance(200);
      expect(w.size).toBe(1);
    });
  });

  describe('properties', () => {
    it('expires 10k entries with random deadlines, refreshes and removals within one tick of their deadline, never early', () => {
      const tick = 20;
      const horizon = 500;
      const start = 1_000_000;
      const plan = fc.record({
        seed: fc.integer(),
        steps: fc.array(fc.integer({ min: 1, max: 3 * tick }), { minLength: 1, maxLength: 8 }),
      });
      fc.assert(
        fc.property(plan, ({ seed, steps }) => {
          const random = mulberry32(seed);
          const span = 3 * horizon;
          let clock = start;
          class Conn implements WheelEntry {
            wheelSlot = -1;
            constructor(
              readonly first: number,
              readonly refreshAt: number | null,
              readonly last: number,
              readonly removeAt: number | null,
            ) {}
            deadline(): number {
              return this.refreshAt !== null && clock >= this.refreshAt ? this.last : this.first;
            }
          }
          const conns: Conn[] = [];
          for (let i = 0; i < 10_000; i++) {
            // Deadlines from a little in the past to three horizons ahead.
            const first = start - 50 + Math.floor(random() * (span + 50));
            const refreshed = random() < 0.3 && first > start + 1;
            const refreshAt = refreshed ? start + Math.floor(random() * (first - start)) : null;
            const last = refreshed ? first + Math.floor(random() * span) : first;
            const removed = random() < 0.1 && first > start + 1;
            const removeAt = removed ? start + Math.floor(random() * (first - start)) : null;
            conns.push(new Conn(first, refreshAt, last, removeAt));
          }
          const expiredAt = new Map<Conn, { now: number; previous: number }>();
          let twice = 0;
          let previous = start;
          const w = new IdleWheel<Conn>(
            tick,
            horizon,
            (c, now) => {
              if (expiredAt.has(c)) twice++;
              expiredAt.set(c, { now, previous });
            },
            start,
          );
          for (const c of conns) w.add(c);
          expect(w.size).toBe(conns.length);

          const removals = conns
            .filter((c) => c.removeAt !== null)
            .sort((a, b) => a.removeAt! - b.removeAt!);
          let nextRemoval = 0;
          let removedCount = 0;
          const end = start + 2 * span + 2 * horizon;
          for (let i = 0; clock < end; i++) {
            clock += steps[i % steps.length];
            while (nextRemoval < removals.length && removals[nextRemoval].removeAt! <= clock) {
              w.remove(removals[nextRemoval++]);
              removedCount++;
            }
            w.advance(clock);
            expect(w.size).toBe(conns.length - expiredAt.size - removedCount);
            previous = clock;
          }

          // Never early, and never missed by an advance() at or after one tick past the deadline.
          const wrong: string[] = [];
          for (const c of conns) {
            const hit = expiredAt.get(c);
            const due = c.refreshAt !== null ? c.last : c.first;
            if (c.removeAt !== null) {
              if (hit) wrong.push(`removed at ${c.removeAt} but expired at ${hit.now}`);
            } else if (!hit) {
              wrong.push(`due ${due} never expired`);
            } else if (hit.now < due || hit.previous >= Math.max(due, start) + tick) {
              wrong.push(`due ${due} expired at ${hit.now} (previous advance ${hit.previous})`);
            }
          }
          expect(wrong.slice(0, 5)).toEqual([]);
          expect(twice).toBe(0);
          expect(w.size).toBe(0);
        }),
        { numRuns: 5 },
      );
    });
  });
});
