import { Controller, UseFilters, UseGuards, UseInterceptors, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { LonglinkValidationPipe } from '../../src/common/longlink-validation.pipe';
import { LonglinkContext } from '../../src/transport/longlink.context';
import { ExampleOp } from './example.ops';
import { PokeDto } from './poke.dto';
import { PokeService } from './poke.service';
import { NoMutedUsersGuard } from './no-muted-users.guard';
import { StampInterceptor } from './stamp.interceptor';
import { TeapotError, TeapotFilter } from './teapot.filter';

@Controller()
@UsePipes(LonglinkValidationPipe)
export class ExampleController {
  constructor(private readonly pokes: PokeService) {}

  @MessagePattern('example.echo', { op: ExampleOp.ECHO })
  @UseInterceptors(StampInterceptor)
  echo(@Payload() body: Record<string, unknown>, @Ctx() ctx: LonglinkContext) {
    return { echo: body, uid: ctx.getUser()?.uid };
  }

  @MessagePattern('example.poke', { op: ExampleOp.POKE })
  @UseGuards(NoMutedUsersGuard)
  poke(@Payload() body: PokeDto, @Ctx() ctx: LonglinkContext) {
    const delivered = this.pokes.poke(ctx.getUser()!.uid, body.to, body.note);
    return { delivered };
  }

  @MessagePattern('example.fail', { op: ExampleOp.FAIL })
  @UseFilters(TeapotFilter)
  fail(@Payload() body: { kind?: string }) {
    if (body.kind === 'teapot') throw new TeapotError('short and stout');
    throw new Error('something internal that must not leak');
  }
}
