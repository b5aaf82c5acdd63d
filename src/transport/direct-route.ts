import type { LonglinkContext } from './longlink.context.js';

/**
 * Marks a global guard whose check every direct route makes itself (before login,
 * only public ops): such a guard does not keep routes on Nest's chain.
 */
export const REPLICATED_BY_DIRECT_ROUTES = Symbol('longlink.replicated-by-direct-routes');

/** Calls a controller method with `(payload, context)`, as Nest would with nothing in between. */
export type DirectHandler = (data: unknown, ctx: LonglinkContext) => unknown;

/**
 * Decides which routes the transport may call directly instead of through
 * Nest's handler chain (five or so promises and closures per PDU): only routes
 * where that chain would do nothing but call the method. Errors thrown on a
 * direct route are passed through `mapError`, which must give what Nest's
 * exception layer would have given.
 */
export interface DirectRouteSource {
  resolve(pattern: string, isPublic: boolean): DirectHandler | undefined;
  mapError(err: unknown): unknown;
}
