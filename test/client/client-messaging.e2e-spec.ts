import { LonglinkClient } from '../../src/client/longlink.client';
import { MemoryLastSeqStore } from '../../src/client/memory-last-seq.store';
import { DeliveryService } from '../../src/messaging/delivery.service';
import { SessionService } from '../../src/session/session.service';
import { TestGateway, startGateway } from '../support/test-gateway';
import { ClientPool, collectMessages, eventually } from './support/client-harness';
import { sleep } from '../support/wait';

describe('LonglinkClient against a gateway: logging in and messaging', () => {
  let gw: TestGateway;
  const pool = new ClientPool(() => gw);

  beforeAll(async () => {
    // Heartbeat timeout 300 ms: a client that did not heartbeat would be kicked within the test.
    gw = await startGateway({
      heartbeat: { intervalMs: 100, timeoutMs: 300, sweepIntervalMs: 20 },
    });
  });
  afterEach(() => pool.cleanup());
  afterAll(() => gw.close());

  it('logs in and stays logged in on its own heartbeats, at the interval the server announced', async () => {
    const client = await pool.connected('hb-user');
    expect(client.session).toMatchObject({
      uid: 'hb-user',
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 300,
    });
    const kicks: unknown[] = [];
    client.on('kick', (kick) => void kicks.push(kick));
    await sleep(800);
    expect(kicks).toEqual([]);
    expect(client.state).toBe('ready');
    expect(gw.app.get(SessionService).isOnline('hb-user')).toBe(true);
  });

  it('send() resolves with the msgId once stored; the recipient gets the message, in order', async () => {
    const bob = pool.create('m-bob');
    const seen = collectMessages(bob);
    await bob.connect();
    const alice = await pool.connected('m-alice');
    const ids = [
      await alice.send('m-bob', { text: 'one' }),
      await alice.send('m-bob', { text: 'two' }),
    ];
    expect(ids).toEqual([expect.any(String), expect.any(String)]);
    await eventually(() => seen.length === 2, 'two messages');
    expect(seen).toEqual([
      { seq: 1, from: 'm-alice', content: { text: 'one' }, msgId: ids[0] },
      { seq: 2, from: 'm-alice', content: { text: 'two' }, msgId: ids[1] },
    ]);
  });

  it('acknowledges each message after its listener returns, so it is not delivered again', async () => {
    const delivery = gw.app.get(DeliveryService);
    const bob = pool.create('ack-bob');
    const seen = collectMessages(bob);
    await bob.connect();
    const alice = await pool.connected('ack-alice');
    await alice.send('ack-bob', 'hello');
    await eventually(() => seen.length === 1 && delivery.inflightCount('ack-bob') === 0, 'acked');
    await bob.close();
    // A second client of bob, with no memory of its own, gets nothing: the server has the ack.
    const again = pool.create('ack-bob');
    const seenAgain = collectMessages(again);
    await again.connect();
    await sleep(100);
    expect(seenAgain).toEqual([]);
  });

  it('with autoAck off, a message the application did not ack is delivered again next time', async () => {
    const first = pool.create('manual-bob', { autoAck: false });
    const seen = collectMessages(first);
    first.on('message', ({ seq }) => {
      if (seq === 1) first.ack(seq);
    });
    await first.connect();
    const alice = await pool.connected('manual-alice');
    await alice.send('manual-bob', 'acked');
    await alice.send('manual-bob', 'not acked');
    await eventually(() => seen.length === 2, 'both shown');
    await first.close();
    const second = pool.create('manual-bob');
    const seenAgain = collectMessages(second);
    await second.connect();
    await eventually(() => seenAgain.length === 1, 'the unacked one again');
    expect(seenAgain[0]).toMatchObject({ seq: 2, content: 'not acked' });
  });

  it('a client without a message listener leaves its inbox on the server', async () => {
    const sender = await pool.connected('quiet-alice');
    const bobOnlySends = await pool.connected('quiet-bob');
    await sender.send('quiet-bob', 'for later');
    await sleep(100);
    await bobOnlySends.close();
    const reader = pool.create('quiet-bob');
    const seen = collectMessages(reader);
    await reader.connect();
    await eventually(() => seen.length === 1, 'message still there');
  });

  it("rejects send() with the server's error code", async () => {
    const alice = await pool.connected('err-alice');
    await expect(alice.send('', 'to nobody')).rejects.toMatchObject({
      code: 'bad-request',
      fromServer: true,
    });
  });

  it('rejects connect() with the server code when the token is refused', async () => {
    const client = new LonglinkClient({
      port: gw.port,
      token: 'not-a-jwt',
      requestTimeoutMs: 2000,
    });
    await expect(client.connect()).rejects.toMatchObject({ code: 'invalid-token' });
    expect(client.state).toBe('closed');
  });

  it('resumes after the seq in its LastSeqStore, even when the server never saw those acks', async () => {
    const alice = await pool.connected('store-alice');
    for (const text of ['a', 'b', 'c']) await alice.send('store-bob', text);
    // This app already processed 1 and 2 (say, before a crash that lost the PUSH_ACK).
    const store = new MemoryLastSeqStore(2);
    const bob = pool.create('store-bob', { lastSeqStore: store });
    const seen = collectMessages(bob);
    await bob.connect();
    await eventually(() => seen.length === 1, 'the third message');
    expect(seen[0]).toMatchObject({ seq: 3, content: 'c' });
    await eventually(() => store.load() === 3, 'store advanced');
  });
});
