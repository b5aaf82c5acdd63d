import { Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';

/** "token: token must be a string" — the first broken constraint of each field, nested paths dotted. */
export function describeValidationErrors(errors: ValidationError[], parent = ''): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const path = parent ? `${parent}.${e.property}` : e.property;
    // class-validator records decorators bottom-up: the last entry is the topmost (usually the type check).
    const first = e.constraints ? Object.values(e.constraints).at(-1) : undefined;
    if (first) out.push(`${path}: ${first}`);
    if (e.children?.length) out.push(...describeValidationErrors(e.children, path));
  }
  return out;
}

/**
 * class-validator for PDU bodies. A body that fails its DTO is answered with
 * ERROR bad-request naming the field, instead of Nest's HTTP-flavoured error
 * (which the RPC layer would turn into "Internal server error").
 */
@Injectable()
export class LonglinkValidationPipe extends ValidationPipe {
  constructor() {
    super({
      transform: true,
      whitelist: true,
      forbidUnknownValues: true,
      exceptionFactory: (errors) =>
        new LonglinkException(
          ErrorCode.BadRequest,
          describeValidationErrors(errors).join('; ') || 'invalid body',
        ),
    });
  }
}
