import {
  CallHandler,
  Controller,
  ExecutionContext,
  Injectable,
  Module,
  NestInterceptor,
  UseGuards,
} from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { Observable, map, throwError } from 'rxjs';
import { NoParamPipes } from '../src/common/no-param-pipes.decorator';
import { MsgOp } from '../src/messaging/messaging.ops';
import { ErrorCode } from '../src/transport/error-codes';
import { LonglinkException } from '../src/transport/longlink.exception';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { BlockingModule } from './example-blocking/blocking.module';
import { ExampleModule } from './example/example.module';
import { ExampleOp } from './example/example.ops';
import { NoMutedUsersGuard } from './example/no-muted-users.guard';
import { TestGateway, startGateway } from './support/test-gateway';

const DirectOp = { OK: 1201, ASYNC: 1202, CODED: 1203, CRASH: 1204, GUARDED: 1205, STREAM: 1206 };

@Controller()
class DirectProbeController {
  @MessagePattern('direct.ok', { op: DirectOp.OK })
  @NoParamPipes()
  ok(body: unknown) {
    return { got: body };
  }

  @MessagePattern('direct.async', { op: DirectOp.ASYNC })
  @NoParamPipes()
  async later(body: unknown) {
    await new Promise((r) => setImmediate(r));
    return { got: body };
  }

  @MessagePattern('direct.coded', { op: DirectOp.CODED })
  @NoParamPipes()
  coded(): never {
    throw new LonglinkException('probe-refused', 'not today');
  }

  @MessagePattern('direct.crash', { op: DirectOp.CRASH })
  @NoParamPipes()
  async crash(): Promise<never> {
    throw new Error('secret detail');
  }

  @MessagePattern('direct.guarded', { op: DirectOp.GUARDED })
  @NoParamPipes()
  @UseGuards(NoMutedUsersGuard)
  guarded() {
    return { passed: true };
  }

  @MessagePattern('direct.stream', { op: DirectOp.STREAM })
  @NoParamPipes()
  stream(): Observable<never> {
    return throwError(() => new LonglinkException('stream-failed', 'from an observable'));
  }
}

@Module({ controllers: [DirectProbeController] })
class DirectProbeModule {}

@Injectable()
class TagInterceptor implements NestInterceptor {
  intercept(_ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((v: unknown) => ({ tagged: v })));
  }
}

const isDirect = (gw: TestGateway, op: number) => gw.server.routes.get(op)?.direct !== undefined;

describe('direct routes: handlers Nest would only call are called without its chain', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({}, [DirectProbeModule, ExampleModule]);
  });
  afterAll(() => gw.close());

  it('takes the hot built-in ops and plain @NoParamPipes handlers', () => {
    // LOGIN checks its body itself (parseLoginBody), so it is one of them.
    for (const op of [
      Op.HEARTBEAT,
      Op.LOGIN,
      MsgOp.SEND,
      MsgOp.PUSH_ACK,
      MsgOp.SYNC,
      DirectOp.OK,
    ]) {
      expect(isDirect(gw, op)).toBe(true);
    }
  });

  it('leaves handlers with parameters or enhancers to Nest', () => {
    // The example ops have an interceptor, a guard, a filter.
    for (const op of [ExampleOp.ECHO, ExampleOp.POKE, ExampleOp.FAIL]) {
      expect(isDirect(gw, op)).toBe(false);
    }
    expect(isDirect(gw, DirectOp.GUARDED)).toBe(false);
  });

  it('answers sync and async results alike', async () => {
    const c = await gw.loggedIn('direct-alice');
    const a = await c.request(DirectOp.OK, { n: 1 });
    expect(a.op).toBe((DirectOp.OK | REPLY_FLAG) >>> 0);
    expect(a.body).toEqual({ got: { n: 1 } });
    expect((await c.request(DirectOp.ASYNC, { n: 2 })).body).toEqual({ got: { n: 2 } });
  });

  it('still requires login on routes not declared public', async () => {
    const c = await gw.client();
    const reply = await c.request(DirectOp.OK, {});
    expect(reply.op).toBe(Op.ERROR);
    expect(reply.body).toEqual({ code: ErrorCode.NotLoggedIn, message: 'log in first' });
    expect((await c.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });

  it('maps errors as Nest’s exception filter does', async () => {
    const c = await gw.loggedIn('direct-bob');
    expect((await c.request(DirectOp.CODED)).body).toEqual({
      code: 'probe-refused',
      message: 'not today',
    });
    // Unknown errors: logged, and answered without their detail.
    expect((await c.request(DirectOp.CRASH)).body).toEqual({
      code: ErrorCode.InternalError,
      message: 'Internal server error',
    });
    expect((await c.request(DirectOp.STREAM)).body).toEqual({
      code: 'stream-failed',
      message: 'from an observable',
    });
    // The guarded route went through Nest: its guard still refuses.
    const muted = await gw.loggedIn('muted-direct');
    expect((await muted.request(DirectOp.GUARDED)).op).toBe(Op.ERROR);
  });
});

describe('direct routes are off when a global enhancer would apply', () => {
  it('with an application-wide guard (APP_GUARD), every route goes through Nest', async () => {
    const gw = await startGateway({}, [DirectProbeModule, BlockingModule]);
    try {
      for (const op of [Op.HEARTBEAT, MsgOp.SEND, DirectOp.OK])
        expect(isDirect(gw, op)).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('with a global interceptor added before listen, it runs on the hot ops too', async () => {
    const gw = await startGateway({}, [DirectProbeModule], (app) =>
      app.useGlobalInterceptors(new TagInterceptor()),
    );
    try {
      expect(isDirect(gw, Op.HEARTBEAT)).toBe(false);
      const c = await gw.loggedIn('direct-carol');
      expect((await c.request(DirectOp.OK, { n: 3 })).body).toEqual({
        tagged: { got: { n: 3 } },
      });
    } finally {
      await gw.close();
    }
  });
});
