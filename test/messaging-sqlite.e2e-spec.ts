import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { DeliveryService } from '../src/messaging/delivery.service';
import { MESSAGE_STORE, MessageStore } from '../src/messaging/message.store';
import { MessagingClient, eventually } from './support/messaging-client';
import { sleep } from './support/wait';
import { TestGateway, startGateway } from './support/test-gateway';

const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

describe('messaging with the SQLite store', () => {
  let dataDir: string;
  let gw: TestGateway | undefined;

  const start = async (overrides: LonglinkConfigOverrides = {}) => {
    gw = await startGateway({
      ...overrides,
      messaging: { store: 'sqlite', dataDir, ...overrides.messaging },
    });
    return gw;
  };
  const storeOf = (g: TestGateway) => g.app.get<MessageStore>(MESSAGE_STORE);

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'longlink-sqlite-e2e-'));
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers online, and keeps messages for an offline recipient until login', async () => {
    const g = await start();
    const alice = await MessagingClient.loggedIn(g, 'alice');
    const carol = await MessagingClient.loggedIn(g, 'carol');
    const live = await alice.send('carol', { text: 'online' });
    await carol.waitForApp(1);
    expect(carol.appSeen[0]).toMatchObject({ msgId: live.msgId, seq: 1, from: 'alice' });

    const acks = await alice.sendMany('bob', 20, (i) => ({ n: i, text: `offline ${i} ü😀` }));
    expect(acks.map((a) => a.seq)).toEqual(range(20));
    const bob = await MessagingClient.loggedIn(g, 'bob', { lastSeq: 0 });
    await bob.waitForApp(20);
    expect(bob.state.seqs()).toEqual(range(20));
    expect(bob.appSeen.map((m) => m.content)).toEqual(
      range(20, 0).map((i) => ({ n: i, text: `offline ${i} ü😀` })),
    );
    expect(bob.appSeen.map((m) => m.msgId)).toEqual(acks.map((a) => a.msgId));
  });

  it('dedupes a resent SEND from the database', async () => {
    const g = await start();
    const alice = await MessagingClient.loggedIn(g, 'alice');
    const first = await alice.send('bob', 'once', 'same-id');
    expect(await alice.send('bob', 'twice', 'same-id')).toEqual(first);
    expect(await storeOf(g).lastSeq('bob')).toBe(1);
  });

  it('keeps undelivered messages, continues seqs and remembers the acked position across a restart', async () => {
    let g = await start();
    let alice = await MessagingClient.loggedIn(g, 'alice');
    const before = await alice.sendMany('bob', 5, (i) => `m${i + 1}`);
    // bob reads all five but acks only up to 3 (the last two PUSH_ACKs are lost).
    const bob = await MessagingClient.loggedIn(g, 'bob', { autoAck: false });
    await bob.waitForApp(5);
    bob.ack(3);
    await eventually(async () => (await storeOf(g).ackedSeq('bob')) === 3, 'ack 3 stored');
    bob.close();
    await sleep(20);
    // Two more while bob is offline.
    const offline = await alice.sendMany('bob', 2, (i) => `m${i + 6}`);
    expect(offline.map((a) => a.seq)).toEqual([6, 7]);
    await g.close();
    gw = undefined;

    g = await start();
    expect(await storeOf(g).ackedSeq('bob')).toBe(3);
    expect(await storeOf(g).lastSeq('bob')).toBe(7);
    // No lastSeq at login: delivery resumes after the acked position.
    const bobAgain = await MessagingClient.loggedIn(g, 'bob');
    await bobAgain.waitForApp(4);
    await sleep(50);
    expect(bobAgain.appSeen.map((m) => [m.seq, m.content])).toEqual([
      [4, 'm4'],
      [5, 'm5'],
      [6, 'm6'],
      [7, 'm7'],
    ]);
    expect(bobAgain.appSeen.map((m) => m.msgId)).toEqual(
      [...before.slice(3), ...offline].map((a) => a.msgId),
    );

    // Seqs continue without a gap, and dedupe survived the restart.
    alice = await MessagingClient.loggedIn(g, 'alice');
    const next = await alice.send('bob', 'm8');
    expect(next.seq).toBe(8);
    expect(await alice.send('bob', 'resent', before[0].clientMsgId)).toEqual(before[0]);
    await bobAgain.waitForApp(5);
    expect(bobAgain.state.seqs()).toEqual([4, 5, 6, 7, 8]);
    await eventually(async () => (await storeOf(g).ackedSeq('bob')) === 8, 'ack 8 stored');
  });

  it('persists acks taken just before the gateway shuts down', async () => {
    let g = await start();
    const alice = await MessagingClient.loggedIn(g, 'alice');
    await alice.sendMany('bob', 3);
    const bob = await MessagingClient.loggedIn(g, 'bob');
    await bob.waitForApp(3);
    // The last PUSH_ACK reached the server; stop before anything else happens.
    const delivery = g.app.get(DeliveryService);
    await eventually(() => delivery.inflightCount('bob') === 0, 'all acks taken');
    await g.close();
    gw = undefined;

    g = await start();
    expect(await storeOf(g).ackedSeq('bob')).toBe(3);
    const bobAgain = await MessagingClient.loggedIn(g, 'bob');
    await sleep(150);
    expect(bobAgain.pushes).toHaveLength(0);
  });
});
