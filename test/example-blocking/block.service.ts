import { Injectable } from '@nestjs/common';

/** Who blocked whom, in memory: the test sets it directly. */
@Injectable()
export class BlockService {
  private readonly blocked = new Map<string, Set<string>>();

  block(uid: string, sender: string): void {
    let senders = this.blocked.get(uid);
    if (!senders) this.blocked.set(uid, (senders = new Set()));
    senders.add(sender);
  }

  unblock(uid: string, sender: string): void {
    this.blocked.get(uid)?.delete(sender);
  }

  /** Whether `uid` refuses messages from `sender`. */
  isBlocked(uid: string, sender: string): boolean {
    return this.blocked.get(uid)?.has(sender) ?? false;
  }
}
