import { InboxTracker } from './inbox-tracker';

const message = (seq: number, msgId = `m${seq}`) => ({
  msgId,
  seq,
  from: 'a',
  content: null,
  ts: 0,
});

describe('InboxTracker', () => {
  it('takes the first push as the baseline when nothing is known', () => {
    const inbox = new InboxTracker(10);
    expect(inbox.take(message(7))).toBe('new');
    expect([inbox.held, inbox.accepted]).toEqual([6, 7]);
  });

  it('classifies pushes after a known seq: next is new, older is a duplicate, further is a gap', () => {
    const inbox = new InboxTracker(10);
    inbox.restore(3);
    expect(inbox.take(message(3))).toBe('duplicate');
    expect(inbox.take(message(5))).toBe('gap');
    expect(inbox.take(message(4))).toBe('new');
    expect(inbox.take(message(5, 'm4'))).toBe('duplicate'); // same msgId, whatever the seq
  });

  it('advances held only over a contiguous run of acks, and reports singles meanwhile', () => {
    const inbox = new InboxTracker(10);
    inbox.restore(0);
    for (const seq of [1, 2, 3]) inbox.take(message(seq));
    expect(inbox.ack(2)).toBe(false);
    expect(inbox.takeAck()).toEqual({ upTo: 0, seqs: [2] });
    expect(inbox.ack(1)).toBe(true);
    expect(inbox.held).toBe(2);
    expect(inbox.takeAck()).toEqual({ upTo: 2 });
    expect(inbox.takeAck()).toBeUndefined();
    expect(inbox.ack(9)).toBe(false); // never taken: ignored
  });

  it('asks for the ack again when a processed message is pushed again', () => {
    const inbox = new InboxTracker(10);
    inbox.restore(0);
    inbox.take(message(1));
    inbox.ack(1);
    inbox.takeAck();
    expect(inbox.take(message(1))).toBe('duplicate');
    expect(inbox.takeAck()).toEqual({ upTo: 1 });
  });

  it('rewind() forgets what was taken but not processed', () => {
    const inbox = new InboxTracker(10);
    inbox.restore(0);
    inbox.take(message(1));
    inbox.take(message(2));
    inbox.ack(1);
    inbox.rewind();
    expect([inbox.held, inbox.accepted]).toEqual([1, 1]);
  });

  it('sends at most 1024 single seqs per PUSH_ACK', () => {
    const inbox = new InboxTracker(5000);
    inbox.restore(0);
    for (let seq = 1; seq <= 1100; seq++) inbox.take(message(seq));
    for (let seq = 2; seq <= 1100; seq++) inbox.ack(seq);
    expect(inbox.takeAck()?.seqs).toHaveLength(1024);
    expect(inbox.takeAck()?.seqs).toHaveLength(1099 - 1024);
    expect(inbox.takeAck()).toBeUndefined();
  });
});
