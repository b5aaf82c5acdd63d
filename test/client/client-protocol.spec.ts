import { LonglinkClient } from '../../src/client/longlink.client';
import type { LonglinkClientOptions } from '../../src/client/client.options';
import { MemoryLastSeqStore } from '../../src/client/memory-last-seq.store';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op } from '../../src/transport/ops';
import { eventually } from './support/client-harness';
import { sleep } from '../support/wait';
import { ScriptedTransport, push, reply } from './support/scripted-transport';

const loginReply = {
  uid: 'bob',
  heartbeatIntervalMs: 60_000,
  heartbeatTimeoutMs: 180_000,
  serverTimeMs: 1,
};
const msg = (seq: number, msgId = `m${seq}`) =>
  push(MsgOp.MSG, { msgId, seq, from: 'alice', content: { n: seq }, ts: 1000 + seq });

/** A client on a scripted transport that answers LOGIN and SYNC (newest = `inbox.newest`). */
function scripted(options: Partial<LonglinkClientOptions> = {}) {
  const transport = new ScriptedTransport();
  const inbox = { newest: 0 };
  transport.onRequest = (frame) => {
    if (frame.op === Op.LOGIN) transport.deliverSoon(reply(frame, loginReply));
    if (frame.op === MsgOp.SYNC) transport.deliverSoon(reply(frame, { lastSeq: inbox.newest }));
  };
  const client = new LonglinkClient({
    token: 't',
    transport: transport.factory,
    requestTimeoutMs: 500,
    reconnect: false,
    ...options,
  });
  const seen: number[] = [];
  return {
    client,
    transport,
    inbox,
    seen,
    listen: () => client.on('message', (m) => void seen.push(m.seq)),
  };
}

const clients: LonglinkClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
function track<T extends { client: LonglinkClient }>(s: T): T {
  clients.push(s.client);
  return s;
}

describe('the client protocol layer', () => {
  it('matches replies to requests by seq, whatever order they come in', async () => {
    const { client, transport } = track(scripted());
    await client.connect();
    const first = client.request(1001, { n: 1 });
    const second = client.request(1001, { n: 2 });
    await eventually(() => transport.sentOps(1001).length === 2, 'both requests written');
    const [a, b] = transport.sentOps(1001);
    expect(a.seq).not.toBe(b.seq);
    transport.deliver(reply(b, { for: 2 }), reply(a, { for: 1 }));
    await expect(first).resolves.toEqual({ for: 1 });
    await expect(second).resolves.toEqual({ for: 2 });
  });

  it("rejects a request with the server's ERROR code", async () => {
    const { client, transport } = track(scripted());
    await client.connect();
    const answer = client.request(1001);
    await eventually(() => transport.sentOps(1001).length === 1, 'request written');
    const [request] = transport.sentOps(1001);
    transport.deliver(encodeJsonFrame(Op.ERROR, request.seq, { code: 'teapot', message: 'short' }));
    await expect(answer).rejects.toMatchObject({
      code: 'teapot',
      message: 'short',
      fromServer: true,
    });
  });

  it('hands each message over once: a repeated push (same seq or msgId) is dropped and acked again', async () => {
    const s = track(scripted());
    s.listen();
    await s.client.connect();
    s.inbox.newest = 4;
    s.transport.deliver(msg(1), msg(2));
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length > 0, 'first ack');
    // Pushed again (our ack was lost), the same seq under another id, then the same id again.
    s.transport.deliver(msg(1), msg(2, 'other-id'), msg(3), msg(4, 'm3'));
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length > 1, 'second ack');
    expect(s.seen).toEqual([1, 2, 3]);
    expect(s.transport.sentOps(MsgOp.PUSH_ACK).map((f) => f.body)).toEqual([
      { upTo: 2 },
      { upTo: 3 },
    ]);
  });

  it('acknowledges a message only once the promise its listener returned has resolved', async () => {
    const s = track(scripted());
    let finish: () => void = () => undefined;
    s.client.on('message', () => new Promise<void>((resolve) => (finish = resolve)));
    await s.client.connect();
    s.transport.deliver(msg(1));
    await sleep(30);
    expect(s.transport.sentOps(MsgOp.PUSH_ACK)).toEqual([]);
    finish();
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length === 1, 'ack after resolve');
    expect(s.client.lastSeq).toBe(1);
  });

  it('with autoAck off, acknowledges what the application acks, in any order', async () => {
    const store = new MemoryLastSeqStore();
    const s = track(scripted({ autoAck: false, lastSeqStore: store }));
    s.listen();
    await s.client.connect();
    s.transport.deliver(msg(1), msg(2), msg(3));
    await eventually(() => s.seen.length === 3, 'three messages');
    await sleep(10);
    expect(s.transport.sentOps(MsgOp.PUSH_ACK)).toEqual([]);
    s.client.ack(2);
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length === 1, 'single ack');
    s.client.ack(1);
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length === 2, 'cumulative ack');
    expect(s.transport.sentOps(MsgOp.PUSH_ACK).map((f) => f.body)).toEqual([
      { upTo: 0, seqs: [2] },
      { upTo: 2 },
    ]);
    expect(s.client.lastSeq).toBe(2);
    await eventually(() => store.load() === 2, 'held seq persisted');
  });

  it('on a gap, SYNCs from the last contiguous seq and ignores pushes until its reply', async () => {
    const s = track(scripted());
    s.listen();
    await s.client.connect();
    s.inbox.newest = 3;
    s.transport.onRequest = () => undefined; // the spec answers SYNC itself
    s.transport.deliver(msg(1), msg(3));
    await eventually(() => s.transport.sentOps(MsgOp.SYNC).length === 1, 'SYNC sent');
    const [sync] = s.transport.sentOps(MsgOp.SYNC);
    expect(sync.body).toEqual({ lastSeq: 1 });
    s.transport.deliver(msg(2)); // overtaken by the SYNC: it pushes 2 again after its reply
    // The reply and the pushes it triggers arrive in one read.
    s.transport.deliver(reply(sync, { lastSeq: 3 }), msg(2), msg(3));
    await eventually(() => s.seen.length === 3, 'all three');
    expect(s.seen).toEqual([1, 2, 3]);
  });

  it('resumes after a reconnect with LOGIN lastSeq, then SYNC; a server whose inbox went back is synced from 0', async () => {
    const s = track(
      scripted({ reconnect: { initialDelayMs: 5, maxDelayMs: 5, factor: 1, jitter: 0 } }),
    );
    s.listen();
    await s.client.connect();
    s.inbox.newest = 2;
    s.transport.deliver(msg(1), msg(2));
    await eventually(() => s.client.lastSeq === 2, 'two processed');
    s.inbox.newest = 0; // the server restarted with an empty memory store
    s.transport.drop();
    await eventually(() => s.client.state === 'ready' && s.transport.connects === 2, 'reconnected');
    const logins = s.transport.sentOps(Op.LOGIN).map((f) => f.body);
    expect(logins).toEqual([{ token: 't' }, { token: 't', lastSeq: 2 }]);
    expect(s.transport.sentOps(MsgOp.SYNC).map((f) => f.body)).toEqual([
      { lastSeq: 2 },
      { lastSeq: 0 },
    ]);
    expect(s.client.lastSeq).toBe(0);
    s.transport.deliver(msg(1, 'fresh-1'));
    await eventually(() => s.seen.length === 3, 'the new inbox');
    expect(s.seen).toEqual([1, 2, 1]);
  });

  it('after a RECONNECT, waits at least its afterMs from the close before the first attempt, once', async () => {
    const s = track(
      scripted({ reconnect: { initialDelayMs: 5, maxDelayMs: 5, factor: 1, jitter: 0 } }),
    );
    const events: unknown[] = [];
    s.client.on('reconnect-advised', (e) => void events.push(['reconnect-advised', e]));
    s.client.on('disconnect', (e) => void events.push(['disconnect', e]));
    s.client.on('reconnecting', (e) => void events.push(['reconnecting', e]));
    s.client.on('push', (op) => void events.push(['push', op]));
    await s.client.connect();

    s.transport.deliver(push(Op.RECONNECT, { reason: 'server-shutdown', afterMs: 150 }));
    expect(s.client.state).toBe('ready'); // the server closes once its requests are answered
    const closedAt = Date.now();
    s.transport.drop();
    expect(events).toEqual([
      ['reconnect-advised', { reason: 'server-shutdown', afterMs: 150, willReconnect: true }],
      ['disconnect', { reason: 'server-shutdown', willReconnect: true, afterMs: 150 }],
      ['reconnecting', { attempt: 1, delayMs: 150 }],
    ]);
    await sleep(100);
    expect(s.transport.connects).toBe(1);
    await eventually(() => s.client.state === 'ready' && s.transport.connects === 2, 'back');
    expect(Date.now() - closedAt).toBeGreaterThanOrEqual(149);

    // The advice was for that outage only: the next one starts with the backoff's short delay.
    events.length = 0;
    s.transport.drop();
    expect(events).toEqual([
      ['disconnect', { reason: 'connection closed', willReconnect: true }],
      ['reconnecting', { attempt: 1, delayMs: 5 }],
    ]);
  });

  it('caps the delay a RECONNECT asks for at 10 minutes', async () => {
    const s = track(scripted({ reconnect: true }));
    const delays: number[] = [];
    s.client.on('reconnecting', (e) => void delays.push(e.delayMs));
    await s.client.connect();
    s.transport.deliver(push(Op.RECONNECT, { reason: 'server-shutdown', afterMs: 1e12 }));
    s.transport.drop();
    expect(delays).toEqual([600_000]);
  });

  it('keeps pushes that come before the first message listener, and delivers them once it is added', async () => {
    const s = track(scripted());
    await s.client.connect();
    s.transport.deliver(msg(1), msg(2), msg(1));
    await sleep(20);
    expect(s.transport.sentOps(MsgOp.PUSH_ACK)).toEqual([]);
    s.listen();
    await eventually(() => s.seen.length === 2, 'parked messages');
    expect(s.seen).toEqual([1, 2]);
  });

  it('reports a listener that throws, and still acknowledges its message', async () => {
    const s = track(scripted());
    const errors: Error[] = [];
    s.client.on('error', (error) => void errors.push(error));
    s.client.on('message', () => {
      throw new Error('handler bug');
    });
    await s.client.connect();
    s.transport.deliver(msg(1));
    await eventually(() => s.transport.sentOps(MsgOp.PUSH_ACK).length === 1, 'ack');
    expect(errors.map((e) => e.message)).toEqual(['handler bug']);
  });

  it('reports an ERROR with seq 0 (a broken stream) as an error event', async () => {
    const s = track(scripted());
    const errors: unknown[] = [];
    s.client.on('error', (error) => void errors.push(error));
    await s.client.connect();
    s.transport.deliver(encodeJsonFrame(Op.ERROR, 0, { code: 'frame-too-large', message: 'x' }));
    expect(errors).toEqual([
      expect.objectContaining({ code: 'frame-too-large', fromServer: true }),
    ]);
  });

  it('rejects requests before connect() with not-connected', async () => {
    const { client } = scripted();
    await expect(client.send('alice', 'hi')).rejects.toMatchObject({ code: 'not-connected' });
  });
});
