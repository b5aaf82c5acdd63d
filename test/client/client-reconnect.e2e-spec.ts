import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReconnectingEvent } from '../../src/client/client.events';
import { MemoryLastSeqStore } from '../../src/client/memory-last-seq.store';
import { tcpTransport } from '../../src/client/tcp.transport';
import { SessionService } from '../../src/session/session.service';
import { TestGateway, startGateway } from '../support/test-gateway';
import {
  ClientPool,
  collectMessages,
  eventually,
  freePort,
  gatewayOn,
  nextEvent,
} from './support/client-harness';
import { sleep } from '../support/wait';
import { SLOW_OP, SlowOpModule, slowRequests } from './support/slow-op.module';

describe('LonglinkClient reconnecting', () => {
  describe('across a server restart', () => {
    let port: number;
    let dataDir: string;
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);
    // The durable store, as in production: the restarted server still has every inbox. No
    // advised delay at shutdown (1 ms): this spec watches the client's own backoff.
    const restart = () =>
      gatewayOn(port, {
        server: { reconnectAfterMs: 1, reconnectJitterMs: 0 },
        messaging: { store: 'sqlite', dataDir },
      });

    beforeEach(async () => {
      port = await freePort();
      dataDir = mkdtempSync(join(tmpdir(), 'longlink-client-restart-'));
      gw = await restart();
    });
    afterEach(async () => {
      await pool.cleanup();
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('reconnects with backoff, completes a send made while the server was down, and resumes the inbox', async () => {
      const bob = pool.create('restart-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const alice = await pool.connected('restart-alice', { requestTimeoutMs: 5000 });
      await alice.send('restart-bob', 'before');
      await eventually(() => seen.length === 1, 'first message');

      const attempts: ReconnectingEvent[] = [];
      alice.on('reconnecting', (event) => void attempts.push(event));
      const aliceDown = nextEvent(alice, 'disconnect');
      await gw.close();
      expect((await aliceDown)[0]).toMatchObject({ willReconnect: true });
      const sent = alice.send('restart-bob', 'while down');
      await eventually(() => attempts.length >= 3, 'a few refused attempts', 2000);
      expect(attempts.map((a) => a.attempt)).toEqual(attempts.map((_, i) => i + 1));
      expect(attempts[2].error).toMatchObject({ code: 'cannot-connect' });

      const aliceBack = nextEvent(alice, 'reconnect', 3000);
      const bobBack = nextEvent(bob, 'reconnect', 3000);
      gw = await restart();
      await Promise.all([aliceBack, bobBack]);
      await expect(sent).resolves.toEqual(expect.any(String));
      await eventually(() => seen.length === 2, 'message sent while down');
      await sleep(50);
      expect(seen.map((m) => [m.seq, m.content])).toEqual([
        [1, 'before'],
        [2, 'while down'],
      ]);
    });
  });

  describe('across a graceful shutdown', () => {
    let port: number;
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);
    // At shutdown the gateway tells clients to come back after 300 + 0…200 ms.
    const start = () =>
      startGateway({ server: { port, reconnectAfterMs: 300, reconnectJitterMs: 200 } }, [
        SlowOpModule,
      ]);

    beforeEach(async () => {
      port = await freePort();
      gw = await start();
    });
    afterEach(async () => {
      await pool.cleanup();
      await gw.close();
    });

    it('waits the advised delay before reconnecting, and completes a send made during the outage', async () => {
      // When the client opens connections: the first attempt after the close is what counts.
      const opened: number[] = [];
      const tcp = tcpTransport({ host: '127.0.0.1', port, connectTimeoutMs: 1000 });
      const alice = pool.create('drain-alice', {
        requestTimeoutMs: 5000,
        transport: (handlers) => {
          opened.push(Date.now());
          return tcp(handlers);
        },
      });
      let closedAt = 0;
      alice.on('disconnect', () => void (closedAt = Date.now()));
      const advised = nextEvent(alice, 'reconnect-advised');
      const down = nextEvent(alice, 'disconnect');
      await alice.connect();

      await gw.close();
      const [advice] = await advised;
      expect(advice).toEqual({
        reason: 'server-shutdown',
        afterMs: expect.any(Number),
        willReconnect: true,
      });
      expect(advice.afterMs).toBeGreaterThanOrEqual(300);
      expect(advice.afterMs).toBeLessThanOrEqual(500);
      expect((await down)[0]).toEqual({
        reason: 'server-shutdown',
        willReconnect: true,
        afterMs: advice.afterMs,
      });

      const sent = alice.send('drain-bob', 'while down');
      const back = nextEvent(alice, 'reconnect', 5000);
      gw = await start(); // at once: only the client's own wait keeps it away
      await back;
      await expect(sent).resolves.toEqual(expect.any(String));
      expect(opened.length).toBeGreaterThanOrEqual(2);
      // Timers may fire up to 1 ms early against Date.now().
      expect(opened[1] - closedAt).toBeGreaterThanOrEqual(advice.afterMs - 1);
    });

    it('gets the answer to a request in flight when the shutdown begins, before the close', async () => {
      const alice = await pool.connected('drain-slow');
      const events: string[] = [];
      alice.on('reconnect-advised', () => void events.push('advised'));
      alice.on('disconnect', () => void events.push('disconnect'));
      const started = slowRequests.started;
      const answer = alice.request(SLOW_OP, { ms: 200 });
      void answer.then(
        () => events.push('answered'),
        () => undefined,
      );
      await eventually(() => slowRequests.started === started + 1, 'the handler began');
      await gw.close();
      await expect(answer).resolves.toEqual({ slept: 200 });
      await eventually(() => events.length === 3, 'all three events');
      expect(events).toEqual(['advised', 'answered', 'disconnect']);
      gw = await start(); // for afterEach
    });
  });

  describe('on one server', () => {
    let gw: TestGateway;
    let sessions: SessionService;
    const pool = new ClientPool(() => gw);

    beforeAll(async () => {
      gw = await startGateway();
      sessions = gw.app.get(SessionService);
    });
    afterEach(() => pool.cleanup());
    afterAll(() => gw.close());

    it('syncs after being offline: what was sent meanwhile arrives once, in order', async () => {
      const store = new MemoryLastSeqStore();
      const first = pool.create('offline-bob', { lastSeqStore: store });
      const seenFirst = collectMessages(first);
      await first.connect();
      const alice = await pool.connected('offline-alice');
      await alice.send('offline-bob', 1);
      await eventually(() => seenFirst.length === 1 && store.load() === 1, 'first message held');
      await first.close();

      await alice.send('offline-bob', 2);
      await alice.send('offline-bob', 3);
      const second = pool.create('offline-bob', { lastSeqStore: store });
      const seen = collectMessages(second);
      await second.connect();
      await eventually(() => seen.length === 2, 'the two sent while offline');
      await sleep(50);
      expect(seen.map((m) => m.content)).toEqual([2, 3]);
    });

    it('reconnects by itself after a kick for another reason, losing and repeating nothing', async () => {
      const bob = pool.create('kicked-bob');
      const seen = collectMessages(bob);
      await bob.connect();
      const alice = await pool.connected('kicked-alice');
      await alice.send('kicked-bob', 'one');
      await eventually(() => seen.length === 1, 'first');
      const kick = nextEvent(bob, 'kick');
      const back = nextEvent(bob, 'reconnect');
      expect(sessions.kick('kicked-bob', 'maintenance', 'back soon')).toBe(true);
      expect((await kick)[0]).toEqual({
        code: 'maintenance',
        message: 'back soon',
        willReconnect: true,
      });
      await alice.send('kicked-bob', 'two'); // most likely stored while bob is away
      await back;
      await alice.send('kicked-bob', 'three');
      await eventually(() => seen.length === 3, 'all three');
      await sleep(50);
      expect(seen.map((m) => [m.seq, m.content])).toEqual([
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ]);
    });

    it('does not reconnect after a relogin kick, and tells the application', async () => {
      const first = pool.create('relogin-bob');
      const events: string[] = [];
      first.on('kick', (k) => void events.push(`kick ${k.code} willReconnect=${k.willReconnect}`));
      first.on('reconnecting', () => void events.push('reconnecting'));
      first.on('close', (c) => void events.push(`close ${c.reason}`));
      await first.connect();
      const second = await pool.connected('relogin-bob');
      await eventually(() => first.state === 'closed', 'first closed');
      await sleep(300); // several backoff delays: a fighting client would have come back by now
      expect(events).toEqual(['kick relogin willReconnect=false', 'close relogin']);
      expect(second.state).toBe('ready');
      expect(sessions.isOnline('relogin-bob')).toBe(true);
      await expect(first.send('x', 'y')).rejects.toMatchObject({ code: 'closed' });
    });

    it('stops, naming the code, when the server refuses the login on a reconnect', async () => {
      let tokens = 0;
      const client = pool.create('revoked-bob', {
        token: async () => (++tokens === 1 ? gw.token('revoked-bob') : 'revoked'),
      });
      await client.connect();
      const closed = nextEvent(client, 'close');
      sessions.kick('revoked-bob', 'maintenance');
      expect((await closed)[0]).toMatchObject({ reason: 'invalid-token' });
      expect(client.state).toBe('closed');
    });
  });
});
