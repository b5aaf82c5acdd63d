import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';

/**
 * For hot handlers that take no decorated parameters: the handler is called as
 * `(payload, context)` with no parameter-pipe step. Without it Nest assumes
 * @Payload() and @Ctx() and resolves both through its pipe chain on every call,
 * a Promise.all per PDU that halved the heartbeat's throughput in
 * bench/hot-path.bench.ts. Guards, interceptors and filters still apply.
 */
export function NoParamPipes(): MethodDecorator {
  return (target, key) => {
    Reflect.defineMetadata(ROUTE_ARGS_METADATA, {}, target.constructor, key);
  };
}
