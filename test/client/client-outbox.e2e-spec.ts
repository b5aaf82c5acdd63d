import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutboxEvent } from '../../src/client/client.events';
import { MemoryOutboxStore } from '../../src/client/memory-outbox.store';
import type { LonglinkClient } from '../../src/client/longlink.client';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op } from '../../src/transport/ops';
import { TestGateway } from '../support/test-gateway';
import { sleep } from '../support/wait';
import {
  ClientPool,
  collectMessages,
  eventually,
  freePort,
  gatewayOn,
  nextEvent,
} from './support/client-harness';
import { FakeGateway, FakeRequest, loginReply } from './support/fake-gateway';

/** `state` (and the code of a failure) of every outbox event of `client`, in order. */
function outboxLog(client: LonglinkClient): string[] {
  const log: string[] = [];
  client.on('outbox', (event: OutboxEvent) => {
    if (event.state === 'failed') log.push(`failed ${event.error.code}`);
    else if (event.state === 'queued') log.push(event.waiting ? 'queued waiting' : 'queued');
    else if (event.state === 'sent') log.push(`sent ${event.attempt}`);
    else log.push(`acknowledged #${event.ack.seq}`);
  });
  return log;
}

describe('the outbox', () => {
  describe('across a gateway restart', () => {
    let port: number;
    let dataDir: string;
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);
    const restart = () =>
      gatewayOn(port, {
        server: { reconnectAfterMs: 1, reconnectJitterMs: 0 },
        messaging: { store: 'sqlite', dataDir },
      });

    beforeEach(async () => {
      port = await freePort();
      dataDir = mkdtempSync(join(tmpdir(), 'longlink-outbox-'));
      gw = await restart();
    });
    afterEach(async () => {
      await pool.cleanup();
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('queues a send made while disconnected and sends it on reconnect: queued, sent, acknowledged', async () => {
      const bob = pool.create('ob-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const alice = await pool.connected('ob-alice');
      const log = outboxLog(alice);
      const down = nextEvent(alice, 'disconnect');
      await gw.close();
      await down;
      // Longer than requestTimeoutMs (2 s): a send waits for the connection, it does not time out.
      const sent = alice.sendWithAck('ob-bob', 'typed while down');
      expect(alice.pendingMessages).toBe(1);
      await sleep(2500);
      expect(log).toEqual(['queued waiting']);
      gw = await restart();
      const ack = await sent;
      expect(log).toEqual(['queued waiting', 'sent 1', `acknowledged #${ack.seq}`]);
      expect(alice.pendingMessages).toBe(0);
      await eventually(() => seen.length === 1, 'bob got it', 5000);
      await sleep(100);
      expect(seen).toEqual([
        expect.objectContaining({ msgId: ack.msgId, content: 'typed while down' }),
      ]);
    }, 15_000);

    it('is resent by a new client instance from a persisted OutboxStore, and stored once', async () => {
      const bob = pool.create('ob-bob2');
      const seen = collectMessages(bob);
      await bob.connect();
      const store = new MemoryOutboxStore();
      const first = await pool.connected('ob-alice2', { outbox: { store } });
      const down = nextEvent(first, 'disconnect');
      await gw.close();
      await down;
      const pending = first.send('ob-bob2', 'left behind', { clientMsgId: 'c-left-1' });
      await first.close(); // the app stops before the gateway is back
      await expect(pending).rejects.toMatchObject({ code: 'closed' });
      expect(store.load()).toEqual([
        {
          clientMsgId: 'c-left-1',
          to: 'ob-bob2',
          content: 'left behind',
          queuedAt: expect.any(Number),
        },
      ]);

      gw = await restart();
      const second = pool.create('ob-alice2', { outbox: { store } });
      const log = outboxLog(second);
      const acked = new Promise<OutboxEvent>((resolve) =>
        second.on('outbox', (e) => void (e.state === 'acknowledged' && resolve(e))),
      );
      await second.connect();
      const event = await acked;
      expect(event.entry.clientMsgId).toBe('c-left-1');
      expect(log).toEqual(['queued waiting', 'sent 1', expect.stringMatching(/^acknowledged/)]);
      await eventually(() => store.load().length === 0, 'store emptied');
      await eventually(() => seen.length === 1, 'bob got it', 5000);
      await sleep(100);
      expect(seen.map((m) => m.content)).toEqual(['left behind']);
    }, 15_000);

    it('fails a message the server refuses for good, and forgets it', async () => {
      const store = new MemoryOutboxStore();
      const alice = await pool.connected('ob-alice3', { outbox: { store } });
      const log = outboxLog(alice);
      await expect(alice.send('', 'to nobody')).rejects.toMatchObject({
        code: 'bad-request',
        fromServer: true,
      });
      expect(log).toEqual(['queued', 'sent 1', 'failed bad-request']);
      await eventually(() => store.load().length === 0, 'store emptied');
    });
  });

  describe('against a gateway that does not answer SEND', () => {
    let fake: FakeGateway;
    const sends: FakeRequest[] = [];
    const pool = new ClientPool(() => fake);

    beforeEach(async () => {
      sends.length = 0;
      fake = await FakeGateway.start((request, gw) => {
        if (request.op === Op.LOGIN) gw.reply(request, loginReply('alice'));
        else if (request.op === MsgOp.SEND) sends.push(request);
      });
    });
    afterEach(async () => {
      await pool.cleanup();
      await fake.close();
    });

    it('fails every pending message for good after a KICK relogin, and empties the store', async () => {
      const store = new MemoryOutboxStore();
      const alice = await pool.connected('alice', { outbox: { store } });
      const log = outboxLog(alice);
      const results = [alice.send('bob', 'one'), alice.send('bob', 'two')].map((p) =>
        p.then(
          () => 'sent',
          (error: { code: string }) => error.code,
        ),
      );
      await eventually(() => sends.length === 2, 'both SENDs written');
      const closed = nextEvent(alice, 'close');
      const socket = sends[0].socket;
      socket.end(
        encodeJsonFrame(Op.KICK, 0, {
          code: 'relogin',
          message: 'logged in from another connection',
        }),
      );
      expect((await closed)[0]).toMatchObject({ reason: 'relogin' });
      expect(await Promise.all(results)).toEqual(['relogin', 'relogin']);
      expect(log).toEqual([
        'queued',
        'sent 1',
        'queued',
        'sent 1',
        'failed relogin',
        'failed relogin',
      ]);
      await eventually(() => store.load().length === 0, 'store emptied');
      expect(alice.pendingMessages).toBe(0);
    });

    it('bounds the outbox: past outbox.maxMessages, send() fails at once with outbox-full', async () => {
      const alice = await pool.connected('alice', { outbox: { maxMessages: 2 } });
      const log = outboxLog(alice);
      void alice.send('bob', 1).catch(() => undefined);
      void alice.send('bob', 2).catch(() => undefined);
      await expect(alice.send('bob', 3)).rejects.toMatchObject({
        code: 'outbox-full',
        message: '2 messages already wait for their acknowledgement (outbox.maxMessages)',
      });
      expect(log).toEqual(['queued', 'sent 1', 'queued', 'sent 1', 'failed outbox-full']);
      expect(alice.pendingMessages).toBe(2);
    });

    it('resends, with the same clientMsgId, a SEND whose reply did not come before a disconnect', async () => {
      const alice = await pool.connected('alice');
      const log = outboxLog(alice);
      const sent = alice.sendWithAck('bob', 'again', { clientMsgId: 'c-again' });
      await eventually(() => sends.length === 1, 'first SEND');
      sends[0].socket.destroy();
      await eventually(() => sends.length === 2, 'resent after the reconnect', 3000);
      expect(sends[1].body).toEqual(sends[0].body);
      fake.reply(sends[1], { clientMsgId: 'c-again', msgId: 'm-again', seq: 7, ts: 1 });
      await expect(sent).resolves.toMatchObject({ msgId: 'm-again', seq: 7 });
      expect(log).toEqual(['queued', 'sent 1', 'sent 2', 'acknowledged #7']);
    });
  });
});
