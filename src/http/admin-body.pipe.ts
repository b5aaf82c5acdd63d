import { ArgumentMetadata, PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { adminBadRequest } from './admin-bad-request.js';

/** The field a zod issue is about: its path, the first unknown key, or the argument itself. */
function fieldOf(issue: z.core.$ZodIssue, metadata: ArgumentMetadata): string {
  if (issue.code === 'unrecognized_keys') return issue.keys[0] ?? 'body';
  if (issue.path.length > 0) return issue.path.map(String).join('.');
  return metadata.type === 'body' ? 'body' : (metadata.data ?? metadata.type);
}

/**
 * Validates an admin request body or path parameter with a zod schema; the
 * first problem becomes a 400 naming its field. zod rather than class-validator:
 * its issues carry the path, and `content` may be any JSON value.
 */
export class AdminBodyPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown, metadata: ArgumentMetadata): z.output<S> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const problem = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    throw adminBadRequest(fieldOf(issue, metadata), problem);
  }
}
