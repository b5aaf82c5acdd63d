import { Controller, Get, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mintToken } from '../src/auth/token.factory';
import { loadConfig } from '../src/config/config.loader';
import { createLonglinkServer } from '../src/gateway.factory';
import { LonglinkModule } from '../src/longlink.module';
import { MsgOp } from '../src/messaging/messaging.ops';
import { SessionService } from '../src/session/session.service';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';
import { sleep, until } from './support/wait';

@Controller('status')
class StatusController {
  constructor(private readonly sessions: SessionService) {}

  @Get()
  status(): { online: number } {
    return { online: this.sessions.count() };
  }
}

type Order =
  | 'startAllMicroservices, listen'
  | 'init, startAllMicroservices, listen'
  | 'listen, startAllMicroservices';

/** An HTTP app with the gateway connected as a microservice, started in `order`. */
async function hybrid(order: Order) {
  const config = loadConfig({
    env: {},
    overrides: {
      server: { port: 0 },
      rateLimit: { maxPackets: 5, kickPackets: 10 },
      messaging: { store: 'memory' },
      log: { level: 'error' },
    },
  });
  const server = createLonglinkServer(config);

  @Module({ imports: [LonglinkModule.forRoot(config, server)], controllers: [StatusController] })
  class HybridModule {}

  const app: INestApplication = await NestFactory.create(HybridModule, { logger: false });
  app.connectMicroservice({ strategy: server });
  /** A connection made as soon as the longlink port listens, before the app finished starting. */
  let early: Promise<TestClient> | undefined;
  const steps: Record<string, () => Promise<unknown>> = {
    init: () => app.init(),
    startAllMicroservices: async () => {
      await app.startAllMicroservices();
      // Frames sent at once, before the app's remaining start-up steps.
      early = TestClient.connect(server.port).then((c) => {
        c.send(4242);
        for (let i = 0; i < 15; i++) c.send(Op.HEARTBEAT);
        return c;
      });
      await early;
      // Time for the frames to arrive while the app is not started yet.
      await sleep(200);
    },
    listen: () => app.listen(0, '127.0.0.1'),
  };
  for (const step of order.split(', ')) await steps[step]();
  const token = (uid: string) => mintToken(uid, { secret: config.auth.jwtSecret, expiresIn: '1h' });
  return { app, server, early: await early!, token };
}

/**
 * Hybrid apps (HTTP + longlink) in every order Nest allows: the direct routes,
 * the transport hooks (rate limit, login check), the sessions and the store
 * are in force from the first accepted connection.
 */
describe.each<Order>([
  'startAllMicroservices, listen',
  'init, startAllMicroservices, listen',
  'listen, startAllMicroservices',
])('a hybrid app started as %s', (order) => {
  let h: Awaited<ReturnType<typeof hybrid>>;

  beforeAll(async () => {
    h = await hybrid(order);
  });
  afterAll(() => h.app.close());

  it('takes the direct routes', () => {
    expect(h.server.routes.get(Op.HEARTBEAT)?.direct).toBeDefined();
    expect(h.server.routes.get(MsgOp.SEND)?.direct).toBeDefined();
  });

  it('applies the login check and the rate limit to a connection made before the app was ready', async () => {
    const c = h.early;
    expect((await c.waitFor((f) => f.op === Op.ERROR)).body.code).toBe('not-logged-in');
    const kick = await c.waitForOp(Op.KICK);
    expect(kick.body.code).toBe('rate-limited');
  });

  it('logs in, stores and pushes messages, and serves HTTP beside them', async () => {
    const bob = await TestClient.connect(h.server.port);
    expect((await bob.login(await h.token('bob'))).op).toBe((Op.LOGIN | REPLY_FLAG) >>> 0);
    const alice = await TestClient.connect(h.server.port);
    await alice.login(await h.token('alice'));
    const ack = await alice.request(MsgOp.SEND, { to: 'bob', clientMsgId: 'c1', content: 'hi' });
    expect(ack.op).toBe((MsgOp.SEND | REPLY_FLAG) >>> 0);
    const msg = await bob.waitForOp(MsgOp.MSG);
    expect(msg.body.content).toBe('hi');
    const url = await h.app.getUrl();
    const res = await fetch(`${url.replace('[::1]', '127.0.0.1')}/status`);
    expect(await res.json()).toEqual({ online: 2 });
    await until(() => h.server.connectionCount >= 2, 'connections');
    await sleep(0);
    alice.close();
    bob.close();
  });
});
