import { IsOptional, IsString, MaxLength, MinLength } from 'class-validator';

export class PokeDto {
  @IsString()
  @MinLength(1)
  to: string;

  @IsOptional()
  @IsString()
  @MaxLength(140)
  note?: string;
}
