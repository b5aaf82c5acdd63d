import { startHttpGateway, HttpTestGateway } from './support/http-gateway';

describe('HTTP port: health', () => {
  let h: HttpTestGateway;
  beforeAll(async () => {
    h = await startHttpGateway();
  });
  afterAll(() => h.close());

  it('answers /healthz with 200', async () => {
    const res = await fetch(`${h.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 while the store is open and the listener up', async () => {
    const res = await fetch(`${h.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ready: true,
      checks: { store: 'ok', listener: 'up', draining: false },
    });
  });
});
