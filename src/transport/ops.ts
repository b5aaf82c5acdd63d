import { MessageHandler } from '@nestjs/microservices';
import { DirectHandler, DirectRouteSource } from './direct-route.js';

export { FIRST_APP_OP, Op, REPLY_FLAG } from './op-codes.js';
import { REPLY_FLAG } from './op-codes.js';

/** What a `@MessagePattern(pattern, { op, public })` handler declares in its extras. */
export interface OpExtras {
  /** The operation number on the wire. */
  op: number;
  /** Reachable before login (login and heartbeat are). */
  public?: boolean;
}

export interface OpRoute {
  readonly op: number;
  readonly pattern: string;
  readonly public: boolean;
  readonly handler: MessageHandler;
  /** Set when Nest's chain would only call the method (see DirectRouteSource). */
  readonly direct?: DirectHandler;
}

/** Error raised at startup when two handlers claim one op, or an op is out of range. */
export class OpRegistryError extends Error {}

function isOpExtras(extras: unknown): extras is OpExtras {
  return typeof extras === 'object' && extras !== null && 'op' in extras;
}

/**
 * Resolves op → handler once, at listen time, from the handlers Nest registered.
 * Feature modules add PDUs with `@MessagePattern('name', { op: 1001 })`; nothing
 * here knows their names.
 */
export class OpRegistry {
  private readonly routes = new Map<number, OpRoute>();

  static fromHandlers(
    handlers: Map<string, MessageHandler>,
    direct?: DirectRouteSource,
  ): OpRegistry {
    const registry = new OpRegistry();
    for (const [pattern, handler] of handlers) {
      const extras: unknown = handler.extras;
      if (handler.isEventHandler || !isOpExtras(extras)) continue;
      registry.add(pattern, handler, extras, direct?.resolve(pattern, extras.public === true));
    }
    return registry;
  }

  add(pattern: string, handler: MessageHandler, extras: OpExtras, direct?: DirectHandler): void {
    const { op } = extras;
    if (!Number.isInteger(op) || op <= 0 || op >= REPLY_FLAG) {
      throw new OpRegistryError(
        `handler "${pattern}": op ${op} must be an integer in 1..${REPLY_FLAG - 1}`,
      );
    }
    const existing = this.routes.get(op);
    if (existing) {
      throw new OpRegistryError(
        `op ${op} is claimed by both "${existing.pattern}" and "${pattern}"`,
      );
    }
    this.routes.set(op, { op, pattern, public: extras.public === true, handler, direct });
  }

  get(op: number): OpRoute | undefined {
    return this.routes.get(op);
  }

  list(): OpRoute[] {
    return [...this.routes.values()].sort((a, b) => a.op - b.op);
  }
}
