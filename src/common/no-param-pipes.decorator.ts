import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';

/**
 * For hot handlers that take no decorated parameters: the handler is called as
 * `(payload, context)` with no parameter-pipe step. Without it Nest assumes a
 * @Payload() parameter and resolves it through its pipe chain on every call (an
 * async Promise.all per PDU, even with no pipe configured); removing that step
 * took HEARTBEAT from ~0.5M to ~0.87M frames/s in bench/hot-path.bench.ts.
 * Guards, interceptors and filters still apply.
 */
export function NoParamPipes(): MethodDecorator {
  return (target, key) => {
    Reflect.defineMetadata(ROUTE_ARGS_METADATA, {}, target.constructor, key);
  };
}
