import { IsInt, IsOptional, IsString, MaxLength, Min, MinLength } from 'class-validator';

/** LOGIN body. The user id comes from the verified token, never from the body. */
export class LoginDto {
  @IsString()
  @MinLength(1)
  @MaxLength(8192)
  token: string;

  /** The last inbox seq the client holds; delivery resumes after it. Omitted: after the last acked. */
  @IsOptional()
  @IsInt()
  @Min(0)
  lastSeq?: number;
}

/** LOGIN reply body. */
export interface LoginReply {
  uid: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  serverTimeMs: number;
  /** What the client must respect, so it can pace itself instead of being refused. */
  limits: LoginLimits;
}

/** The limits announced in the LOGIN reply (docs/PROTOCOL.md §3). */
export interface LoginLimits {
  /** Frames per window a connection may send; more get ERROR rate-limited. */
  maxPackets: number;
  /** The window of maxPackets and kickPackets. */
  intervalMs: number;
  /** Frames per window past which the connection is kicked. */
  kickPackets: number;
  /** Largest frame the client may send, header included. */
  maxFrameBytes: number;
  /** Bytes per window one connection may send before the server stops reading it for a while. */
  maxBytes: number;
  /** Un-acked pushes the server keeps in flight to this connection. */
  pushWindow: number;
  /** The rate rules (token buckets) that count this connection's frames; absent when none. */
  rules?: readonly AnnouncedRateRule[];
}

/** A rate rule as clients see it: enough to keep to it (docs/PROTOCOL.md §4.1). */
export interface AnnouncedRateRule {
  name: string;
  per: 'connection' | 'user' | 'ip';
  /** The ops it counts: "*", or op numbers and inclusive [from, to] ranges. */
  ops: '*' | (number | [number, number])[];
  ratePerSecond: number;
  burst: number;
}
