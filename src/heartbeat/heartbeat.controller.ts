import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { NoParamPipes } from '../common/no-param-pipes.decorator.js';
import { Op } from '../transport/ops.js';

/**
 * HEARTBEAT: an empty reply. lastTick is refreshed by the transport for every
 * received frame, so the handler itself has nothing to record.
 */
@Controller()
export class HeartbeatController {
  @MessagePattern('heartbeat', { op: Op.HEARTBEAT, public: true })
  @NoParamPipes()
  heartbeat(): void {}
}
