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
}
