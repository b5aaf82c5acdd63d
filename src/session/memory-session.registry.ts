import { Injectable } from '@nestjs/common';
import { SessionRegistry } from './session.registry.js';
import { SessionUser } from './session-user.js';

/** The single-node registry: one Map, O(1) each way. */
@Injectable()
export class MemorySessionRegistry implements SessionRegistry {
  private readonly users = new Map<string, SessionUser>();

  bind(user: SessionUser): SessionUser | undefined {
    const previous = this.users.get(user.uid);
    this.users.set(user.uid, user);
    return previous === user ? undefined : previous;
  }

  unbind(user: SessionUser): boolean {
    if (this.users.get(user.uid) !== user) return false;
    this.users.delete(user.uid);
    return true;
  }

  get(uid: string): SessionUser | undefined {
    return this.users.get(uid);
  }

  count(): number {
    return this.users.size;
  }

  uids(): IterableIterator<string> {
    return this.users.keys();
  }
}
