import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { LonglinkServer, mintToken } from 'longlink';
import { LonglinkClient } from 'longlink/client';
import { AppConfig } from '../src/app.config';
import { AppModule } from '../src/app.module';
import { ChatOp } from '../src/chat/chat.ops';

const SECRET = 'chat-app-test-secret-0123456789abcdef';

/** The whole app, HTTP and longlink, on ephemeral ports, as src/main.ts starts it. */
describe('the hybrid app', () => {
  let app: INestApplication;
  let server: LonglinkServer;
  let http: string;
  const clients: LonglinkClient[] = [];

  async function client(uid: string): Promise<LonglinkClient> {
    const token = await mintToken(uid, { secret: SECRET, expiresIn: '1h' });
    const c = new LonglinkClient({ port: server.port, token, reconnect: false });
    clients.push(c);
    await c.connect();
    return c;
  }

  beforeAll(async () => {
    const settings: AppConfig = {
      host: '127.0.0.1',
      httpPort: 0,
      longlinkPort: 0,
      jwtSecret: SECRET,
    };
    const module = await Test.createTestingModule({ imports: [AppModule] })
      .overrideProvider(AppConfig)
      .useValue(settings)
      .compile();
    app = module.createNestApplication({ logger: false });
    server = app.get(LonglinkServer);
    app.connectMicroservice({ strategy: server });
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    http = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await app.close();
  });

  it('serves GET /health and GET /online beside the gateway', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    expect(await (await fetch(`${http}/online`)).json()).toEqual({ users: ['alice', 'bob'] });
    expect(await (await fetch(`${http}/health`)).json()).toEqual({
      status: 'ok',
      connections: 2,
      online: 2,
    });

    const notice = bob.waitFor(ChatOp.TYPING_NOTICE);
    await alice.request(ChatOp.TYPING, { to: 'bob' });
    expect(await notice).toEqual({ from: 'alice' });
  });

  it("serves longlink's own HTTP surface on the app's port: metrics and readiness", async () => {
    await client('carol');
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/^longlink_connections\{listener="tcp"\} [1-9]/m);
    expect(metrics).toMatch(/^process_cpu_seconds_total /m);
    const ready = await fetch(`${http}/readyz`);
    expect(ready.status).toBe(200);
  });
});
