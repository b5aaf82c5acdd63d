import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReconnectingEvent } from '../../src/client/client.events';
import { MemoryLastSeqStore } from '../../src/client/memory-last-seq.store';
import { SessionService } from '../../src/session/session.service';
import { TestGateway, startGateway } from '../support/test-gateway';
import {
  ClientPool,
  collectMessages,
  eventually,
  freePort,
  gatewayOn,
  nextEvent,
  sleep,
} from './support/client-harness';

describe('LonglinkClient reconnecting', () => {
  describe('across a server restart', () => {
    let port: number;
    let dataDir: string;
    let gw: TestGateway;
    const pool = new ClientPool(() => gw);
    // The durable store, as in production: the restarted server still has every inbox.
    const restart = () => gatewayOn(port, { messaging: { store: 'sqlite', dataDir } });

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
