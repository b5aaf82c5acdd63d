import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable, map } from 'rxjs';
import { LonglinkContext } from '../../src/transport/longlink.context';

/** Adds the request's op and seq to the reply: shows interceptors wrap longlink handlers. */
@Injectable()
export class StampInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const ctx = context.switchToRpc().getContext<LonglinkContext>();
    return next
      .handle()
      .pipe(map((reply) => ({ ...(reply as object), op: ctx.getOp(), seq: ctx.getSeq() })));
  }
}
