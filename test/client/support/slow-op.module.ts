import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

/** An application op answered after `{ ms }` milliseconds: a request that is in flight a while. */
export const SLOW_OP = 1900;

/** How many slow requests the handlers have begun, across gateways. */
export const slowRequests = { started: 0 };

@Controller()
class SlowOpController {
  @MessagePattern('test.slow', { op: SLOW_OP })
  async slow(@Payload() body: { ms?: number }) {
    slowRequests.started++;
    const ms = body.ms ?? 100;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { slept: ms };
  }
}

@Module({ controllers: [SlowOpController] })
export class SlowOpModule {}
