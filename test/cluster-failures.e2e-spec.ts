import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildGateway, MAIN, canConnect } from './support/child-gateway';
import { ClusterNamespace, TEST_REDIS_URL } from './support/cluster-fixture';
import { Content, cidOf, deliveryProblems } from './support/delivery-check';
import { freePort } from './support/free-port';
import { MessagingClient } from './support/messaging-client';
import { ReliableClient } from './support/reliable-client';
import { TcpBalancer } from './support/tcp-balancer';
import { TestGateway } from './support/test-gateway';
import { sleep } from './support/wait';

const SECRET = 'cluster-failures-secret-0123456789';
const PAIRS = 50;
const MESSAGES_PER_SENDER = 40;

/**
 * Cluster failures with real processes, Redis and PostgreSQL: a node SIGKILLed
 * under load (its clients reconnect through a load balancer to the other
 * nodes and get every acknowledged message), and Redis restarted (nodes
 * re-register and delivery resumes; meanwhile SENDs are still acknowledged).
 */
describe('cluster failures', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx nest build\` first`);
  });

  describe('a node SIGKILLed while 50 pairs exchange messages', () => {
    let ns: ClusterNamespace;
    let dir: string;
    const nodes: ChildGateway[] = [];
    let balancer: TcpBalancer;
    const clients: ReliableClient[] = [];

    beforeAll(async () => {
      ns = await ClusterNamespace.create();
      dir = mkdtempSync(join(tmpdir(), 'longlink-cluster-'));
      const config = join(dir, 'cluster.yaml');
      writeFileSync(
        config,
        [
          'rateLimit:',
          '  maxPackets: 1000000',
          '  kickPackets: 2000000',
          'server:',
          '  maxConnectsPerIpPerWindow: 100000',
          'messaging:',
          '  store: postgres',
          '  ackTimeoutMs: 300',
          '  postgres:',
          `    url: '${ns.postgresUrl}'`,
          'cluster:',
          '  nodeTtlMs: 2000',
          '  nodeHeartbeatMs: 500',
          '  redis:',
          `    url: '${TEST_REDIS_URL}'`,
          `    keyPrefix: '${ns.keyPrefix}'`,
          '',
        ].join('\n'),
      );
      for (let i = 1; i <= 3; i++) {
        const node = new ChildGateway(await freePort(), join(dir, `data${i}`), config, {
          LONGLINK_JWT_SECRET: SECRET,
          LONGLINK_NODE_ID: `proc${i}`,
        });
        nodes.push(node);
      }
      await Promise.all(nodes.map((n) => n.start()));
      balancer = await TcpBalancer.start(nodes.map((n) => n.port));
    });

    afterAll(async () => {
      for (const c of clients) c.close();
      await balancer?.close();
      await Promise.all(nodes.map((n) => n.kill()));
      if (dir) rmSync(dir, { recursive: true, force: true });
      await ns?.dispose();
    });

    it('delivers every acknowledged message exactly once, in order per sender; only its clients reconnect', async () => {
      const make = (uid: string) =>
        new ReliableClient({
          port: balancer.port,
          uid,
          secret: SECRET,
          autoReconnect: true,
          reconnectDelayMs: () => 20 + Math.floor(Math.random() * 80),
          resendTimeoutMs: 1000,
        });
      const senders = Array.from({ length: PAIRS }, (_, i) => make(`s${i}`));
      const recipients = Array.from({ length: PAIRS }, (_, i) => make(`r${i}`));
      clients.push(...senders, ...recipients);
      await Promise.all(clients.map((c) => c.connectWithin(10_000)));
      const onVictim = balancer.connectionsTo(nodes[1].port);
      expect(onVictim).toBeGreaterThan(0);

      let killed = false;
      const sending = senders.map(async (sender, i) => {
        for (let k = 0; k < MESSAGES_PER_SENDER; k++) {
          const content: Content = { from: sender.uid, k };
          sender.send(`r${i}`, cidOf(sender.uid, k), content);
          await sleep(10 + Math.floor(Math.random() * 20));
          if (!killed && i === 0 && k === MESSAGES_PER_SENDER / 4) {
            killed = true;
            nodes[1].killNow();
          }
        }
      });
      await Promise.all(sending);

      const deadline = Date.now() + 20_000;
      const settled = () =>
        clients.every((c) => c.online && c.pendingCount === 0) &&
        deliveryProblems(clients).every((p) => !p.includes('but not delivered'));
      while (!settled() && Date.now() < deadline) await sleep(50);
      await sleep(300); // late duplicates would show up now

      const problems = deliveryProblems(clients);
      expect(problems).toEqual([]);
      const acked = senders.reduce((n, s) => n + s.acked.length, 0);
      expect(acked).toBe(PAIRS * MESSAGES_PER_SENDER);
      // Nobody else was disturbed: only the killed node's clients logged in again.
      const reconnected = clients.filter((c) => c.logins > 1).length;
      expect(reconnected).toBeGreaterThan(0);
      expect(reconnected).toBeLessThanOrEqual(onVictim);
      expect(balancer.connectionsTo(nodes[1].port)).toBe(0);
    }, 60_000);
  });

  describe('Redis restarted', () => {
    let ns: ClusterNamespace;
    let redis: PrivateRedis;
    let nodes: TestGateway[];

    beforeAll(async () => {
      redis = await PrivateRedis.start();
      ns = await ClusterNamespace.create();
      nodes = await ns.start(2, { cluster: { redis: { url: redis.url } } });
    });

    afterAll(async () => {
      for (const n of nodes ?? []) await n.close();
      await redis?.stop();
      await ns?.dispose();
    });

    it('keeps acknowledging SENDs while Redis is down, then pushes them and re-registers presence', async () => {
      const bob = await MessagingClient.loggedIn(nodes[1], 'bob');
      const alice = await MessagingClient.loggedIn(nodes[0], 'alice');
      await alice.send('bob', 'before');
      await bob.waitUntil(() => bob.appSeen.length === 1, 'the first push');

      await redis.stop();
      const during = await Promise.all([1, 2, 3].map((i) => alice.send('bob', `during ${i}`)));
      expect(during.map((a) => a.seq)).toEqual([2, 3, 4]);

      await redis.restart();
      // No SYNC, no new login: node 2 reads bob's inbox again once Redis is back.
      await bob.waitUntil(() => bob.appSeen.length === 4, 'the pushes after the restart', 15_000);
      expect(bob.appSeen.map((m) => m.content)).toEqual([
        'before',
        'during 1',
        'during 2',
        'during 3',
      ]);

      // Presence was re-registered: a login on node 1 finds bob on node 2 and kicks it.
      const again = await MessagingClient.loggedIn(nodes[0], 'bob');
      await bob.waitUntil(() => bob.kick !== undefined, 'KICK relogin across nodes', 5000);
      expect(bob.kick?.code).toBe('relogin');
      await alice.send('bob', 'after');
      await again.waitUntil(() => again.appSeen.some((m) => m.content === 'after'), 'delivery');
    }, 60_000);
  });
});

/** A redis-server of this spec's own, on a free port, so it can be stopped and started. */
class PrivateRedis {
  private child: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.child = child;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (await canConnect(this.port)) return;
      await sleep(50);
    }
    throw new Error(`redis-server did not listen on ${this.port}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
