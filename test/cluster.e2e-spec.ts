import Redis from 'ioredis';
import { AccessListService } from '../src/guards/access-list.service';
import { SessionService } from '../src/session/session.service';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ClusterNamespace, TEST_REDIS_URL } from './support/cluster-fixture';
import { MessagingClient } from './support/messaging-client';
import { openSocket } from './support/open-socket';
import { TestClient } from './support/test-client';
import { TestGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;

/**
 * Cluster mode with real Redis and PostgreSQL: three gateways (nodes) in this
 * process, each with its own Redis links and store pool, sharing one key
 * prefix and one schema. The process-level failures (a node SIGKILLed, Redis
 * restarted) are in cluster-failures.e2e-spec.ts.
 */
describe('cluster mode', () => {
  let ns: ClusterNamespace;
  let nodes: TestGateway[];

  beforeAll(async () => {
    ns = await ClusterNamespace.create();
    nodes = await ns.start(3, { auth: { maxFailedLogins: 3 } });
  });

  afterAll(async () => {
    for (const n of nodes ?? []) await n.close();
    await ns?.dispose();
  });

  it('pushes a message from alice on node 1 to bob on node 3 at once, exactly once', async () => {
    const bob = await MessagingClient.loggedIn(nodes[2], 'bob');
    const alice = await MessagingClient.loggedIn(nodes[0], 'alice');
    const sent = await Promise.all([1, 2, 3].map((i) => alice.send('bob', { text: `hi ${i}` })));
    await bob.waitUntil(() => bob.appSeen.length === 3, 'three live pushes on node 3');
    expect(bob.appSeen.map((m) => m.seq)).toEqual(sent.map((a) => a.seq).sort((a, b) => a - b));
    expect(bob.appSeen.every((m) => m.from === 'alice')).toBe(true);
  });

  it('keeps a message for a user offline everywhere until it logs in on any node', async () => {
    const carol = await MessagingClient.loggedIn(nodes[0], 'carol');
    await carol.send('dave', 'while you were away');
    const dave = await MessagingClient.loggedIn(nodes[1], 'dave');
    await dave.waitUntil(() => dave.appSeen.length === 1, 'the backlog on node 2');
    expect(dave.appSeen[0].content).toBe('while you were away');
  });

  it('kicks the older connection on another node with relogin; the new one gets the messages', async () => {
    const first = await MessagingClient.loggedIn(nodes[0], 'erin');
    const second = await MessagingClient.loggedIn(nodes[1], 'erin');
    await first.waitUntil(() => first.kick !== undefined, 'KICK on node 1');
    expect(first.kick?.code).toBe('relogin');
    await first.conn.waitClosed();
    const sender = await MessagingClient.loggedIn(nodes[2], 'frank');
    await sender.send('erin', 'to the new one');
    await second.waitUntil(() => second.appSeen.length === 1, 'delivery on node 2');
    expect(second.kick).toBeUndefined();
  });

  it('leaves exactly one session when one user logs in on three nodes at once', async () => {
    for (let round = 0; round < 5; round++) {
      const uid = `racer-${round}`;
      const token = await nodes[0].token(uid);
      const clients = await Promise.all(nodes.map((n) => MessagingClient.connect(n)));
      const replies = await Promise.all(clients.map((c) => c.login(token)));
      expect(replies.map((r) => r.op)).toEqual([LOGIN_REPLY, LOGIN_REPLY, LOGIN_REPLY]);
      await until(() => clients.filter((c) => c.kick).length === 2, `two of three kicked (${uid})`);
      const survivors = clients.filter((c) => c.kick === undefined);
      expect(survivors).toHaveLength(1);
      expect(clients.filter((c) => c.kick).every((c) => c.kick?.code === 'relogin')).toBe(true);
      // Presence names the survivor: a message reaches it.
      const sender = await MessagingClient.loggedIn(nodes[round % 3], `sender-${round}`);
      await sender.send(uid, round);
      await survivors[0].waitUntil(() => survivors[0].appSeen.length === 1, 'the survivor');
    }
  });

  it('lets an application push to and kick a user on another node through SessionService', async () => {
    const grace = await MessagingClient.loggedIn(nodes[2], 'grace');
    const sessions = nodes[0].app.get(SessionService);
    expect(sessions.push('grace', 1500, { note: 'from node 1' })).toBe(false);
    const pushed = await grace.conn.waitForOp(1500);
    expect(pushed.body).toEqual({ note: 'from node 1' });
    sessions.kick('grace', 'maintenance');
    await grace.waitUntil(() => grace.kick !== undefined, 'the kick from node 1');
    expect(grace.kick?.code).toBe('maintenance');
  });

  it('bans an address whose failed logins are spread over the nodes, on every node', async () => {
    const address = '127.0.0.77';
    for (const node of nodes) {
      const guesser = new MessagingClient(
        await TestClient.connect(node.port, '127.0.0.1', address),
      );
      expect((await guesser.login('not-a-token')).body.code).toBe('invalid-token');
      guesser.conn.close();
    }
    // One failure per node, three in all: the cluster-wide count reached auth.maxFailedLogins.
    for (const node of nodes) {
      await until(() => node.app.get(AccessListService).isBanned(address), 'the ban on every node');
      expect(await refusedAtAccept(node, address)).toBe(true);
    }
    expect(await refusedAtAccept(nodes[0], '127.0.0.78')).toBe(false);
  });

  it("treats a dead node's users as offline: nothing is routed to it", async () => {
    const heidi = await MessagingClient.loggedIn(nodes[1], 'heidi');
    const sender = await MessagingClient.loggedIn(nodes[0], 'ivan');
    const liveness = `${ns.keyPrefix}node:node2`;
    const redis = new Redis(TEST_REDIS_URL);
    try {
      // As if node 2 had died: its liveness key gone (its heartbeat brings it back within 500 ms;
      // a round where it came back before the send proves nothing and is tried again).
      let provedDead = false;
      for (let attempt = 0; attempt < 5 && !provedDead; attempt++) {
        await redis.del(liveness);
        await sender.send('heidi', `stored, not routed ${attempt}`);
        provedDead = (await redis.exists(liveness)) === 0;
      }
      expect(provedDead).toBe(true);
      await sleep(300);
      const pushedLive = heidi.appSeen.length;
      // The last message never reached node 2 by push; SYNC finds everything in the store.
      await heidi.sync(0);
      await heidi.waitUntil(() => heidi.appSeen.length > pushedLive, 'the message after SYNC');
    } finally {
      redis.disconnect();
    }
  });
});

/** Whether `node` closes a connection from `address` at accept, before any byte. */
async function refusedAtAccept(node: TestGateway, address: string): Promise<boolean> {
  const socket = await openSocket({ port: node.port, localAddress: address }, 2000);
  const closed = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
    sleep(500).then(() => false),
  ]);
  socket.destroy();
  return closed;
}
