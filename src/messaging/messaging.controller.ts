import { Controller, UsePipes } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { LonglinkValidationPipe } from '../common/longlink-validation.pipe.js';
import { NoParamPipes } from '../common/no-param-pipes.decorator.js';
import { SessionUser } from '../session/session-user.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { NO_REPLY } from '../transport/no-reply.js';
import { DeliveryService } from './delivery.service.js';
import { PushAckDto, SyncDto } from './messaging.dto.js';
import { MsgOp } from './messaging.ops.js';
import { MessagingService } from './messaging.service.js';
import { parseSendBody } from './send-body.js';

export interface SendAck {
  clientMsgId: string;
  msgId: string;
  seq: number;
  ts: number;
}

function sessionUser(ctx: LonglinkContext): SessionUser {
  const user = ctx.getUser();
  // LoginRequiredGuard has run; this only narrows the type.
  if (!(user instanceof SessionUser))
    throw new LonglinkException(ErrorCode.NotLoggedIn, 'log in first');
  return user;
}

/** MSG_SEND, PUSH_ACK and SYNC. The sender is always the session's user. */
@Controller()
export class MessagingController {
  constructor(
    private readonly messaging: MessagingService,
    private readonly delivery: DeliveryService,
  ) {}

  @MessagePattern('msg.send', { op: MsgOp.SEND })
  @NoParamPipes()
  async send(body: unknown, ctx: LonglinkContext): Promise<SendAck> {
    const { to, clientMsgId, content } = parseSendBody(body);
    const from = sessionUser(ctx).uid;
    const { message } = await this.messaging.send({
      from,
      to,
      clientMsgId,
      content: JSON.stringify(content),
    });
    return { clientMsgId, msgId: message.msgId, seq: message.seq, ts: message.ts };
  }

  @MessagePattern('msg.push-ack', { op: MsgOp.PUSH_ACK })
  @UsePipes(LonglinkValidationPipe)
  pushAck(@Payload() body: PushAckDto, @Ctx() ctx: LonglinkContext): typeof NO_REPLY {
    if (body.upTo === undefined && body.seqs === undefined) {
      throw new LonglinkException(ErrorCode.BadRequest, 'upTo: give upTo or seqs');
    }
    this.delivery.ack(sessionUser(ctx), body.upTo, body.seqs);
    return NO_REPLY;
  }

  @MessagePattern('msg.sync', { op: MsgOp.SYNC })
  @UsePipes(LonglinkValidationPipe)
  async sync(@Payload() body: SyncDto, @Ctx() ctx: LonglinkContext): Promise<{ lastSeq: number }> {
    return { lastSeq: await this.delivery.sync(sessionUser(ctx), body.lastSeq) };
  }
}
