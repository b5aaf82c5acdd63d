import { Injectable } from '@nestjs/common';
import { SessionService } from 'longlink';
import { ChatOp } from './chat.ops.js';

/** Pushes typing and read notices to other users through longlink's SessionService. */
@Injectable()
export class NoticeService {
  // LonglinkModule is global: a feature module injects its services without importing it.
  constructor(private readonly sessions: SessionService) {}

  /** `false` when `to` is not online (on this node: in cluster mode it is forwarded). */
  typing(from: string, to: string): boolean {
    return this.sessions.push(to, ChatOp.TYPING_NOTICE, { from });
  }

  /** Tells `sender` that `reader` has read its messages up to inbox seq `upToSeq`. */
  read(reader: string, sender: string, upToSeq: number): boolean {
    return this.sessions.push(sender, ChatOp.READ_NOTICE, { from: reader, upToSeq });
  }
}
