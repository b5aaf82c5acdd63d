import { FramePacer, paceBudget } from './frame-pacer';

/** Frames are their own labels; `length` is what the pacer weighs them by. */
class Frame {
  constructor(
    readonly label: string,
    readonly length = 10,
  ) {}
}

describe('FramePacer', () => {
  let sent: { label: string; at: number }[];
  let pacer: FramePacer<Frame>;
  const start = 1_000_000;

  beforeEach(() => {
    jest.useFakeTimers({ now: start });
    sent = [];
    pacer = new FramePacer<Frame>((frame) => sent.push({ label: frame.label, at: Date.now() }));
  });
  afterEach(() => {
    pacer.stop();
    jest.useRealTimers();
  });

  it('takes 90% of the announced budget', () => {
    expect(paceBudget({ maxPackets: 200, intervalMs: 1000, maxBytes: 1000 })).toEqual({
      frames: 180,
      intervalMs: 1000,
      bytes: 900,
    });
    expect(paceBudget({ maxPackets: 1, intervalMs: 1000 })).toEqual({
      frames: 1,
      intervalMs: 1000,
    });
    expect(paceBudget(undefined)).toBeUndefined();
  });

  it('sends everything at once when no limits are known', () => {
    for (let i = 0; i < 500; i++) pacer.send(new Frame(`f${i}`));
    expect(sent).toHaveLength(500);
  });

  it('keeps any window to the budget, in order, whatever the burst', () => {
    pacer.setBudget({ frames: 3, intervalMs: 100 });
    for (let i = 0; i < 10; i++) pacer.send(new Frame(`f${i}`));
    expect(sent.map((s) => s.label)).toEqual(['f0', 'f1', 'f2']);
    expect(pacer.waiting).toBe(7);
    jest.advanceTimersByTime(1000);
    expect(sent.map((s) => s.label)).toEqual(Array.from({ length: 10 }, (_, i) => `f${i}`));
    // Sliding: no span of 100 ms holds more than 3 sends.
    for (let i = 3; i < sent.length; i++) expect(sent[i].at - sent[i - 3].at).toBeGreaterThan(100);
  });

  it('spaces frames out for a while after a token bucket refused one, then goes back to the window', () => {
    pacer.setBudget({ frames: 100, intervalMs: 1000 });
    pacer.send(new Frame('first'));
    pacer.spaceOut(50, 500);
    for (let i = 0; i < 20; i++) pacer.send(new Frame(`f${i}`));
    jest.advanceTimersByTime(400);
    // One frame per 50 ms while spaced (the first of them 50 ms after the last send).
    expect(sent.map((s) => s.label)).toEqual([
      'first',
      ...Array.from({ length: 8 }, (_, i) => `f${i}`),
    ]);
    for (let i = 2; i < sent.length; i++) expect(sent[i].at - sent[i - 1].at).toBe(50);
    jest.advanceTimersByTime(200);
    // The spacing has ended: the rest leave at the window's pace, at once.
    expect(sent).toHaveLength(21);
  });

  it('counts frames sent before the budget was known (the LOGIN)', () => {
    pacer.send(new Frame('login'));
    pacer.setBudget({ frames: 2, intervalMs: 100 });
    pacer.send(new Frame('a'));
    pacer.send(new Frame('b'));
    expect(sent.map((s) => s.label)).toEqual(['login', 'a']);
    jest.advanceTimersByTime(101);
    expect(sent.map((s) => s.label)).toEqual(['login', 'a', 'b']);
  });

  it('keeps bytes to the byte budget, letting a single large frame through alone', () => {
    pacer.setBudget({ frames: 100, intervalMs: 100, bytes: 25 });
    pacer.send(new Frame('a', 10));
    pacer.send(new Frame('b', 10));
    pacer.send(new Frame('big', 50));
    expect(sent.map((s) => s.label)).toEqual(['a', 'b']);
    jest.advanceTimersByTime(101);
    expect(sent.map((s) => s.label)).toEqual(['a', 'b', 'big']);
  });

  it('after a refusal, holds everything for the pause, then resends the refused frame first', () => {
    pacer.setBudget({ frames: 100, intervalMs: 1000 });
    pacer.send(new Frame('a'));
    pacer.pause(200);
    pacer.send(new Frame('later'));
    pacer.resend(new Frame('a-again'));
    pacer.resend(new Frame('b-again'));
    expect(sent.map((s) => s.label)).toEqual(['a']);
    jest.advanceTimersByTime(199);
    expect(sent).toHaveLength(1);
    jest.advanceTimersByTime(1);
    expect(sent.map((s) => s.label)).toEqual(['a', 'a-again', 'b-again', 'later']);
  });

  it('drops what waits when stopped', () => {
    pacer.setBudget({ frames: 1, intervalMs: 100 });
    pacer.send(new Frame('a'));
    pacer.send(new Frame('b'));
    pacer.stop();
    jest.advanceTimersByTime(1000);
    expect(sent.map((s) => s.label)).toEqual(['a']);
  });
});
