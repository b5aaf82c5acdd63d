/**
 * `longlink`: the server side of the gateway, for a Nest application. Import
 * LonglinkModule.forRoot/forRootAsync, write feature modules with
 * @MessagePattern(name, { op }) handlers, inject SessionService. The client SDK
 * is `longlink/client`, the test helper `longlink/testing`. Everything not
 * exported here is internal and may change.
 */

// The module and its options
export { LonglinkModule } from './longlink.module.js';
export type { LonglinkAsyncOptions, LonglinkOptions } from './longlink.module.js';
export { createGateway, createLonglinkServer } from './gateway.factory.js';
export type { Gateway, GatewayOptions } from './gateway.factory.js';
// The HTTP surface for a hybrid app: WebSocket at /ws, metrics, health, admin, the demo page
export { LonglinkHttpModule } from './http/http.module.js';

// Configuration: the YAML + environment loader, validation, the injected config
export { loadConfig, mergeOptions, validateConfig } from './config/config.loader.js';
export type { LoadConfigOptions, LonglinkConfigOverrides } from './config/config.loader.js';
export { ConfigError } from './config/config.error.js';
export type { ConfigProblem } from './config/config.error.js';
export type { LonglinkConfig, LonglinkConfigInput } from './config/longlink-config.js';
export { LONGLINK_CONFIG } from './config/config.constants.js';

// The transport
export { LONGLINK_TRANSPORT, LonglinkServer } from './transport/longlink.server.js';
export type { LonglinkEvents, LonglinkServerOptions } from './transport/longlink.server.js';
export type { ProxyProtocolOptions } from './transport/proxy-gate.js';
export { LonglinkContext } from './transport/longlink.context.js';
export type { ConnectionUser, LonglinkConnection } from './transport/connection.js';
export type { TransportHooks } from './transport/transport-hooks.js';
export { FIRST_APP_OP, Op, REPLY_FLAG } from './transport/ops.js';
export type { OpExtras } from './transport/ops.js';
export { ErrorCode, KickReason } from './transport/error-codes.js';
export { LonglinkException } from './transport/longlink.exception.js';
export type { ErrorBody } from './transport/longlink.exception.js';
export { NO_REPLY } from './transport/no-reply.js';
export { RawJson } from './transport/raw-json.js';

// Handlers: decorators and pipes
export { NoParamPipes } from './common/no-param-pipes.decorator.js';
export { LonglinkValidationPipe } from './common/longlink-validation.pipe.js';

// Sessions
export { SessionService } from './session/session.service.js';
export { SessionUser } from './session/session-user.js';
export type { LoginEvent, LogoutEvent } from './session/session.events.js';

// Access lists, rate limits and tokens
export { AccessListService } from './guards/access-list.service.js';
export { RateLimit } from './limits/rate-limit.decorator.js';
export type { RateLimitOptions } from './limits/rate-limit.decorator.js';
export { mintToken } from './auth/token.factory.js';
export type { MintTokenOptions } from './auth/token.factory.js';

// Messaging
export { MsgOp } from './messaging/messaging.ops.js';
export { MessagingService } from './messaging/messaging.service.js';
export { MESSAGE_STORE } from './messaging/message.store.js';
export type { MessageStore } from './messaging/message.store.js';
export type { MessageStoredEvent } from './messaging/message-events.js';
export type {
  AppendOutcome,
  AppendRefusal,
  AppendResult,
  MessageQuotas,
  NewMessage,
  QuotaCode,
  StoredMessage,
} from './messaging/message.types.js';
