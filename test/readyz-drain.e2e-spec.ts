import { Controller, Module } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { NoParamPipes } from '../src/common/no-param-pipes.decorator';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { TestClient } from './support/test-client';
import { until } from './support/wait';

/**
 * While the gateway drains (Gateway.close(): the transport first, the HTTP app
 * after), /readyz answers 503 so a balancer sends no new clients; /healthz
 * stays 200, since the process is alive and finishing its requests.
 */

const SLOW_OP = 1101;
const ADMIN_TOKEN = 'drain-spec-admin-token-0123';

/** A request that stays in flight until the test releases it: the drain waits for it. */
let entered = false;
let release: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (release = resolve));
@Controller()
class SlowController {
  @MessagePattern('readyz-drain.slow', { op: SLOW_OP })
  @NoParamPipes()
  async slow(): Promise<{ done: true }> {
    entered = true;
    await gate;
    return { done: true };
  }
}
@Module({ controllers: [SlowController] })
class SlowModule {}

describe('HTTP port: /readyz while draining', () => {
  let h: HttpTestGateway;
  afterAll(() => release());

  it('is 503 with draining true until the drain ends, while /healthz stays 200', async () => {
    h = await startHttpGateway(
      { server: { drainTimeoutMs: 10_000 }, admin: { token: ADMIN_TOKEN } },
      [SlowModule],
    );
    const get = (path: string) =>
      fetch(`${h.baseUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect((await get('/readyz')).status).toBe(200);

    const client = await TestClient.connect(h.port);
    await client.login(await h.token('drain-alice'));
    const reply = client.request(SLOW_OP, {}, 15_000);
    await until(() => entered, 'the slow request is in flight');

    let closed = false;
    const closing = h.close().then(() => (closed = true));
    await client.waitForOp(Op.RECONNECT);

    const ready = await get('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      ready: false,
      checks: { store: 'ok', listener: 'closing', draining: true },
    });
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(await (await get('/metrics')).text()).toMatch(/^longlink_draining 1$/m);
    const stats = (await (await get('/admin/stats')).json()) as { draining: boolean };
    expect(stats.draining).toBe(true);
    expect(closed).toBe(false);

    // The request in flight is answered, then the drain ends and the HTTP port closes.
    release();
    expect((await reply).op).toBe((SLOW_OP | REPLY_FLAG) >>> 0);
    await closing;
    await expect(fetch(`${h.baseUrl}/healthz`)).rejects.toThrow();
  });
});
