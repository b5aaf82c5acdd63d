import { Controller, Get, HttpCode, Inject, Res } from '@nestjs/common';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { MESSAGE_STORE, MessageStore } from '../messaging/message.store.js';
import { LonglinkServer } from '../transport/longlink.server.js';

/** What /readyz answers: ready, or the reasons it is not. */
export interface Readiness {
  ready: boolean;
  checks: { store: string; listener: string; draining: boolean };
}

/** The minimal response surface used here (Express and Fastify both have it). */
interface StatusResponse {
  status(code: number): unknown;
}

/** How long /readyz waits for the store before calling it unavailable. */
const STORE_CHECK_TIMEOUT_MS = 2000;

/**
 * Liveness and readiness for orchestrators and load balancers. /healthz: the
 * process answers. /readyz: the store serves requests, the transport accepts
 * connections and the gateway is not draining; 503 otherwise, so a balancer
 * stops sending new clients to a node that is shutting down.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly server: LonglinkServer,
    @Inject(MESSAGE_STORE) private readonly store: MessageStore,
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) res: StatusResponse): Promise<Readiness> {
    const draining = this.server.isDraining;
    const listener = this.server.isAccepting ? 'up' : draining ? 'closing' : 'down';
    const store = await this.checkStore();
    const ready = !draining && listener === 'up' && store === 'ok';
    res.status(ready ? 200 : 503);
    return { ready, checks: { store, listener, draining } };
  }

  private async checkStore(): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${STORE_CHECK_TIMEOUT_MS} ms`)),
        STORE_CHECK_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.store.check(), timeout]);
      return 'ok';
    } catch (err) {
      return `unavailable (${this.config.messaging.store}: ${(err as Error).message})`;
    } finally {
      clearTimeout(timer);
    }
  }
}
