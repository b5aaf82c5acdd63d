import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import { NoParamPipes } from '../common/no-param-pipes.decorator.js';
import { SessionUser } from '../session/session-user.js';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkContext } from '../transport/longlink.context.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { NO_REPLY } from '../transport/no-reply.js';
import { DeliveryService } from './delivery.service.js';
import { MsgOp } from './messaging.ops.js';
import { MessagingService } from './messaging.service.js';
import { parsePushAckBody, parseSendBody, parseSyncBody } from './messaging-bodies.js';
import { RawJson } from '../transport/raw-json.js';
import { AppendResult } from './message.types.js';
import { toStoreUnavailable } from './store-failure.js';

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

/** The SEND_ACK, from a template: this reply is on every message's path. */
function sendAck({ message }: AppendResult): RawJson {
  return new RawJson(
    `{"clientMsgId":${JSON.stringify(message.clientMsgId)},"msgId":"${message.msgId}","seq":${message.seq},"ts":${message.ts}}`,
  );
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
  send(body: unknown, ctx: LonglinkContext): Promise<RawJson> {
    const { to, clientMsgId, content } = parseSendBody(body);
    const from = sessionUser(ctx).uid;
    return this.messaging
      .send({ from, to, clientMsgId, content: JSON.stringify(content) })
      .then(sendAck);
  }

  @MessagePattern('msg.push-ack', { op: MsgOp.PUSH_ACK })
  @NoParamPipes()
  pushAck(body: unknown, ctx: LonglinkContext): typeof NO_REPLY {
    const { upTo, seqs } = parsePushAckBody(body);
    this.delivery.ack(sessionUser(ctx), upTo, seqs);
    return NO_REPLY;
  }

  @MessagePattern('msg.sync', { op: MsgOp.SYNC })
  @NoParamPipes()
  async sync(body: unknown, ctx: LonglinkContext): Promise<{ lastSeq: number }> {
    const lastSeq = parseSyncBody(body);
    const user = sessionUser(ctx);
    try {
      return { lastSeq: await this.delivery.sync(user, lastSeq) };
    } catch (err) {
      // Nothing changed on the connection (the store is read first): the client SYNCs again later.
      throw toStoreUnavailable(err, 'SYNC');
    }
  }
}
