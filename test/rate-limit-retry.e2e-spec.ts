import { ErrorCode } from '../src/transport/error-codes';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { encodeFrame } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';

const WINDOW_MS = 1000;
const MAX_PACKETS = 5;

/**
 * ERROR rate-limited carries retryAfterMs: the time left in the window, so a
 * client that waits exactly that long is served again (docs/PROTOCOL.md §4).
 */
describe('rate-limited carries retryAfterMs', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway({
      rateLimit: { intervalMs: WINDOW_MS, maxPackets: MAX_PACKETS, kickPackets: 100 },
    });
  });
  afterAll(() => gw.close());

  it('tells how long is left in the window, and serves the client once it has waited that long', async () => {
    const c = await gw.loggedIn('retry-after'); // the LOGIN is frame 1 of the window
    const start = Date.now();
    const frames = Buffer.concat(
      Array.from({ length: 8 }, (_, i) => encodeFrame(Op.HEARTBEAT, 100 + i)),
    );
    c.sendRaw(frames);
    const refused = await Promise.all(
      [104, 105, 106, 107].map((seq) => c.waitFor((f) => f.seq === seq && f.op === Op.ERROR)),
    );
    const elapsed = Date.now() - start;
    for (const f of refused) {
      expect(f.body.code).toBe(ErrorCode.RateLimited);
      expect(Number.isInteger(f.body.retryAfterMs)).toBe(true);
      expect(f.body.retryAfterMs).toBeGreaterThan(0);
      // The window opened with the LOGIN, a little before `start`.
      expect(f.body.retryAfterMs).toBeLessThanOrEqual(WINDOW_MS);
      expect(f.body.retryAfterMs).toBeGreaterThanOrEqual(WINDOW_MS - elapsed - 500);
    }
    await new Promise((r) => setTimeout(r, refused[3].body.retryAfterMs + 5));
    const served = await c.request(Op.HEARTBEAT);
    expect(served.op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });
});
