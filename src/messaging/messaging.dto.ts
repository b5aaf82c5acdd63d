import { ArrayMaxSize, IsArray, IsInt, IsOptional, Min } from 'class-validator';

/** PUSH_ACK: `upTo` acks every seq up to it (cumulative); `seqs` acks single ones. */
export class PushAckDto {
  @IsOptional()
  @IsInt()
  @Min(0)
  upTo?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1024)
  @IsInt({ each: true })
  @Min(1, { each: true })
  seqs?: number[];
}

/** SYNC: the last inbox seq the client holds. */
export class SyncDto {
  @IsInt()
  @Min(0)
  lastSeq: number;
}
