import { BadRequestException } from '@nestjs/common';

/** The 400 body of the admin API: which field is wrong, and why. */
export interface AdminBadRequestBody {
  statusCode: 400;
  error: 'bad-request';
  field: string;
  message: string;
}

/** A 400 naming `field` ('body' when the body itself is not an object). */
export function adminBadRequest(field: string, problem: string): BadRequestException {
  const body: AdminBadRequestBody = {
    statusCode: 400,
    error: 'bad-request',
    field,
    message: `${field}: ${problem}`,
  };
  return new BadRequestException(body);
}
