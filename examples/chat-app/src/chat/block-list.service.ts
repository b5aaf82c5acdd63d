import { Injectable } from '@nestjs/common';

/** Who blocked whom. In memory, for the example: a real app would keep it in its database. */
@Injectable()
export class BlockListService {
  private readonly blocked = new Map<string, Set<string>>();

  block(uid: string, other: string): void {
    let others = this.blocked.get(uid);
    if (!others) this.blocked.set(uid, (others = new Set()));
    others.add(other);
  }

  unblock(uid: string, other: string): void {
    this.blocked.get(uid)?.delete(other);
  }

  /** Whether `uid` refuses notices from `other`. */
  isBlocked(uid: string, other: string): boolean {
    return this.blocked.get(uid)?.has(other) ?? false;
  }

  blockedBy(uid: string): string[] {
    return [...(this.blocked.get(uid) ?? [])].sort();
  }
}
