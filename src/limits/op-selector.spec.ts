import { OpSelector, OpSelectorError } from './op-selector';

describe('OpSelector', () => {
  const patterns = new Map([
    ['msg.send', 16],
    ['chat.typing', 1001],
    ['chat.read', 1002],
    ['game.move', 2000],
  ]);

  it('matches numbers, client op names, ranges, exact and prefix patterns', () => {
    const s = new OpSelector([3, 'SEND', '1500-1999', 'game.move', 'chat.*'], patterns);
    expect(s.matches(3, 'heartbeat')).toBe(true);
    expect(s.matches(16, 'msg.send')).toBe(true);
    expect(s.matches(19, 'msg.sync')).toBe(false);
    expect(s.matches(1500, undefined)).toBe(true);
    expect(s.matches(1999, undefined)).toBe(true);
    expect(s.matches(2001, undefined)).toBe(false);
    expect(s.matches(2000, 'game.move')).toBe(true);
    expect(s.matches(1001, 'chat.typing')).toBe(true);
    expect(s.matches(1003, undefined)).toBe(false);
  });

  it('"*" matches every op, claimed or not', () => {
    const s = new OpSelector(['*'], patterns);
    expect(s.matches(99_999, undefined)).toBe(true);
    expect(s.all).toBe(true);
  });

  it('refuses a name that is neither an op name nor a pattern', () => {
    expect(() => new OpSelector(['SNED'], patterns)).toThrow(OpSelectorError);
    expect(() => new OpSelector(['chat.typo'], patterns)).toThrow(/chat.typo/);
  });
});
