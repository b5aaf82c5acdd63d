/**
 * Stable error codes carried by ERROR PDUs ({ code, message }) and KICK reasons.
 * Clients branch on these strings; never rename one. Documented in docs/PROTOCOL.md.
 */
export const ErrorCode = {
  FrameTooSmall: 'frame-too-small',
  FrameTooLarge: 'frame-too-large',
  BadHeaderLength: 'bad-header-length',
  UnsupportedVersion: 'unsupported-version',
  UnknownOp: 'unknown-op',
  BadJson: 'bad-json',
  BadRequest: 'bad-request',
  NotLoggedIn: 'not-logged-in',
  AlreadyLoggedIn: 'already-logged-in',
  InvalidToken: 'invalid-token',
  TokenExpired: 'token-expired',
  AccessDenied: 'access-denied',
  IpBanned: 'ip-banned',
  RateLimited: 'rate-limited',
  Forbidden: 'forbidden',
  UnknownRecipient: 'unknown-recipient',
  /** The message store failed (unreachable, timed out): retry the request later. */
  StoreUnavailable: 'store-unavailable',
  /** SEND content over messaging.maxContentBytes: not stored; resending cannot help. */
  ContentTooLarge: 'content-too-large',
  /** The recipient has messaging.maxInboxMessages / maxInboxBytes unacknowledged: not stored. */
  InboxFull: 'inbox-full',
  /** The sender's messaging.maxSender*PerDay is used up: not stored; body has retryAfterMs. */
  DailyQuotaExceeded: 'daily-quota-exceeded',
  InternalError: 'internal-error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Reasons a KICK PDU gives before the server closes a connection. */
export const KickReason = {
  Relogin: 'relogin',
  HeartbeatTimeout: 'heartbeat-timeout',
  LoginTimeout: 'login-timeout',
  RateLimited: 'rate-limited',
  /** The access lists were reloaded and no longer admit this IP or user. */
  AccessDenied: 'access-denied',
  /** The server is shutting down (after a RECONNECT PDU). */
  ServerShutdown: 'server-shutdown',
  /** An operator kicked the user through the admin API (POST /admin/users/:uid/kick). */
  Admin: 'admin',
  /** Not sent as a KICK: the reason a session ended by LOGOUT reports on logouts$. */
  Logout: 'logout',
} as const;
export type KickReason = (typeof KickReason)[keyof typeof KickReason];
