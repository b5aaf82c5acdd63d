import type { LonglinkClientOptions } from '../../../src/client/client.options';
import type { ClientEvents } from '../../../src/client/client.events';
import { LonglinkClient } from '../../../src/client/longlink.client';
import type { LonglinkConfigOverrides } from '../../../src/config/config.loader';
import { TestGateway, startGateway } from '../../support/test-gateway';
import { sleep } from '../../support/wait';

/** Short deadlines so a failing spec fails in seconds; reconnects quick but still backing off. */
export const FAST_RECONNECT = { initialDelayMs: 50, maxDelayMs: 400, factor: 2, jitter: 0.2 };

export { freePort } from '../../support/free-port';

/** A gateway on a fixed port, so it can be stopped and started again at the same address. */
export function gatewayOn(
  port: number,
  overrides: LonglinkConfigOverrides = {},
): Promise<TestGateway> {
  return startGateway({ ...overrides, server: { ...overrides.server, port } });
}

/** Builds clients against `gw` and closes them all in cleanup(). */
export class ClientPool {
  private readonly clients: LonglinkClient[] = [];

  constructor(
    private readonly gateway: () =>
      TestGateway | { port: number; token(uid: string): Promise<string> },
  ) {}

  create(uid: string, options: Partial<LonglinkClientOptions> = {}): LonglinkClient {
    const gw = this.gateway();
    const client = new LonglinkClient({
      port: gw.port,
      token: () => gw.token(uid),
      requestTimeoutMs: 2000,
      reconnect: FAST_RECONNECT,
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  /** Created and connected; rejects like connect(). */
  async connected(
    uid: string,
    options: Partial<LonglinkClientOptions> = {},
  ): Promise<LonglinkClient> {
    const client = this.create(uid, options);
    await client.connect();
    return client;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close()));
  }
}

/** The next `event` of `client`, or a rejection naming it after timeoutMs. */
export function nextEvent<K extends keyof ClientEvents>(
  client: LonglinkClient,
  event: K,
  timeoutMs = 3000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, listener);
      reject(new Error(`no '${String(event)}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: ClientEvents[K]) => {
      clearTimeout(timer);
      client.off(event, listener);
      resolve(args);
    };
    client.on(event, listener);
  });
}

/** Polls until `check` holds. */
export async function eventually(
  check: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Collects every message a client is handed, in order. */
export function collectMessages(
  client: LonglinkClient,
): { seq: number; from: string; content: unknown; msgId: string }[] {
  const seen: { seq: number; from: string; content: unknown; msgId: string }[] = [];
  client.on(
    'message',
    ({ seq, from, content, msgId }) => void seen.push({ seq, from, content, msgId }),
  );
  return seen;
}
