import { IsString, MaxLength, MinLength } from 'class-validator';

/** LOGIN body. The user id comes from the verified token, never from the body. */
export class LoginDto {
  @IsString()
  @MinLength(1)
  @MaxLength(8192)
  token: string;
}

/** LOGIN reply body. */
export interface LoginReply {
  uid: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  serverTimeMs: number;
}
