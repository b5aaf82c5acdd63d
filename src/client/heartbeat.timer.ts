import { Op } from '../transport/op-codes.js';
import { ClientErrorCode, LonglinkClientError } from './longlink-client.error.js';
import type { ProtocolLink } from './protocol-link.js';
import type { SessionInfo } from './server-bodies.js';

/**
 * Sends HEARTBEAT at the interval the server announced at LOGIN (docs/PROTOCOL.md §6), and calls
 * `onDead` when one goes unanswered for the announced timeout: the link is dead then, whatever
 * TCP believes (a peer that vanished without a FIN looks connected for a long time).
 */
export class HeartbeatTimer {
  private timer: ReturnType<typeof setInterval> | undefined;

  start(link: ProtocolLink, session: SessionInfo, onDead: () => void): void {
    this.stop();
    this.timer = setInterval(() => {
      link.request(Op.HEARTBEAT, undefined, session.heartbeatTimeoutMs).catch((error: unknown) => {
        if (error instanceof LonglinkClientError && error.code === ClientErrorCode.Timeout)
          onDead();
      });
    }, session.heartbeatIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
