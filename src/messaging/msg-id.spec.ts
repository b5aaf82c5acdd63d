import { MsgIdGenerator } from './msg-id.js';

describe('MsgIdGenerator', () => {
  it('never repeats within a process', () => {
    const ids = new MsgIdGenerator();
    const seen = new Set(Array.from({ length: 100_000 }, () => ids.next()));
    expect(seen.size).toBe(100_000);
  });

  it('gives each generator (each process or restart) its own prefix', () => {
    const a = new MsgIdGenerator().next();
    const b = new MsgIdGenerator().next();
    expect(a).not.toBe(b);
    expect(a.split('-')[0]).not.toBe(b.split('-')[0]);
  });

  it('makes ids that need no escaping in JSON', () => {
    const id = new MsgIdGenerator().next();
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}-[0-9a-z]+$/);
    expect(JSON.stringify(id)).toBe(`"${id}"`);
  });
});
