import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { mintToken } from '../auth/token.factory.js';
import { PresenceService } from '../cluster/presence.service.js';
import { LONGLINK_CONFIG } from '../config/config.constants.js';
import { LonglinkConfig } from '../config/longlink-config.js';
import { MESSAGE_STORE, MessageStore } from '../messaging/message.store.js';
import { SessionService } from '../session/session.service.js';

/** What /demo/presence says of one user. */
export interface DemoPresence {
  online: boolean;
  /**
   * The highest inbox seq the user's device acknowledged (PUSH_ACK, or LOGIN/SYNC `lastSeq`):
   * a message SENT to them whose SEND_ACK named a seq at or below it has been processed by them.
   */
  ackedSeq: number;
}

/** Tokens minted for the demo live this long: a working session, not a credential to keep. */
const DEMO_TOKEN_TTL = '12h';
/** Users asked about in one presence poll; a contact list, not a directory dump. */
export const MAX_PRESENCE_UIDS = 50;
/** A user id as SEND's `to` accepts it (docs/PROTOCOL.md §4.6). */
const MAX_UID_LENGTH = 128;

/**
 * The demo chat page's server side (docs/WEB.md): whether it is on, development tokens, and
 * presence with acknowledgement cursors for its contact list. Off, everything here is a 404.
 */
@Injectable()
export class DemoService {
  private readonly enabled: boolean;

  constructor(
    @Inject(LONGLINK_CONFIG) private readonly config: LonglinkConfig,
    private readonly sessions: SessionService,
    @Inject(MESSAGE_STORE) private readonly store: MessageStore,
    private readonly moduleRef: ModuleRef,
  ) {
    const { demoPage } = config.http;
    this.enabled =
      demoPage === 'on' || (demoPage === 'auto' && process.env.NODE_ENV !== 'production');
  }

  /** Throws 404 when the demo page is off: it, its assets and its endpoints do not exist then. */
  assertEnabled(): void {
    if (!this.enabled) throw new NotFoundException();
  }

  /** A token for `uid`, signed with the configured secret: anyone may be anyone, hence dev-only. */
  mintToken(uid: string): Promise<string> {
    const { jwtSecret, jwtIssuer, jwtAudience } = this.config.auth;
    return mintToken(uid, {
      secret: jwtSecret,
      expiresIn: DEMO_TOKEN_TTL,
      issuer: jwtIssuer,
      audience: jwtAudience,
    });
  }

  /** Presence and ack cursor of each uid; cluster-wide when cluster mode is on. */
  async presence(uids: readonly string[]): Promise<Record<string, DemoPresence>> {
    const cluster = this.clusterPresence();
    const entries = await Promise.all(
      uids.map(async (uid): Promise<[string, DemoPresence]> => {
        const [online, ackedSeq] = await Promise.all([
          this.isOnline(uid, cluster),
          this.store.ackedSeq(uid).catch(() => 0),
        ]);
        return [uid, { online, ackedSeq }];
      }),
    );
    return Object.fromEntries(entries);
  }

  private async isOnline(uid: string, cluster: PresenceService | null): Promise<boolean> {
    if (this.sessions.isOnline(uid)) return true;
    if (cluster === null) return false;
    // Redis down: as the cluster itself does, count the user as offline.
    return (await cluster.locate(uid).catch(() => null)) !== null;
  }

  /** The cluster's presence directory, when cluster mode imported it. */
  private clusterPresence(): PresenceService | null {
    try {
      return this.moduleRef.get(PresenceService, { strict: false });
    } catch {
      return null;
    }
  }
}

/** `uid` trimmed, if it is one SEND could address; null otherwise. */
export function validUid(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const uid = value.trim();
  return uid.length > 0 && uid.length <= MAX_UID_LENGTH ? uid : null;
}
