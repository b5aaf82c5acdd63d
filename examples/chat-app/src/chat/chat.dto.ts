import { IsInt, IsString, Length, Min } from 'class-validator';

export class TypingDto {
  @IsString()
  @Length(1, 128)
  to: string;
}

export class ReadDto {
  @IsString()
  @Length(1, 128)
  to: string;

  /** The highest inbox seq read (the `seq` of a MSG, and of the sender's SEND reply). */
  @IsInt()
  @Min(1)
  upToSeq: number;
}

export class BlockDto {
  @IsString()
  @Length(1, 128)
  uid: string;
}
