import { AppendRefusal, MessageQuotas } from './message.types.js';

/** A UTC day in ms: the daily quotas count per `floor(now / DAY_MS)`. */
export const DAY_MS = 86_400_000;

/** What counts against a limit. */
export interface Usage {
  messages: number;
  bytes: number;
}

/** A sender's counts for one UTC day (`day` as utcDay() numbers it). */
export interface SenderDay extends Usage {
  day: number;
}

/** The UTF-8 bytes of content as stored: what every byte limit counts. */
export function contentBytes(content: string): number {
  return Buffer.byteLength(content, 'utf8');
}

export function utcDay(now: number): number {
  return Math.floor(now / DAY_MS);
}

/** The quotas append() needs, or undefined when every limit is off (nothing checked, nothing read). */
export function activeQuotas(quotas: MessageQuotas): MessageQuotas | undefined {
  return Object.values(quotas).some((v) => v !== null) ? { ...quotas } : undefined;
}

/** Whether the inbox counts must be read to check a message. */
export function limitsInboxes(quotas: MessageQuotas): boolean {
  return quotas.maxInboxMessages !== null || quotas.maxInboxBytes !== null;
}

/** Whether the sender's day counts must be read (and kept) to check a message. */
export function limitsSenders(quotas: MessageQuotas): boolean {
  return quotas.maxSenderMessagesPerDay !== null || quotas.maxSenderBytesPerDay !== null;
}

/**
 * A sender's counts as of `today`: a row of an earlier day counts nothing. A row of a later day
 * (written by a node whose clock is ahead) is kept as it is, so skewed clocks never start one
 * sender's day twice.
 */
export function senderDayAsOf(row: SenderDay | undefined, today: number): SenderDay {
  if (row === undefined || row.day < today) return { day: today, messages: 0, bytes: 0 };
  return row;
}

/**
 * The first limit one more message of `bytes` would exceed, checked in this order: content size,
 * the sender's day, the recipient's inbox; undefined when it fits. `sender` / `inbox` are
 * undefined when their limits are off.
 */
export function checkQuotas(
  quotas: MessageQuotas,
  bytes: number,
  sender: SenderDay | undefined,
  inbox: Usage | undefined,
  now: number,
): AppendRefusal | undefined {
  const q = quotas;
  if (q.maxContentBytes !== null && bytes > q.maxContentBytes) {
    return { refused: 'content-too-large', limit: 'maxContentBytes' };
  }
  if (sender !== undefined) {
    const limit =
      q.maxSenderMessagesPerDay !== null && sender.messages + 1 > q.maxSenderMessagesPerDay
        ? 'maxSenderMessagesPerDay'
        : q.maxSenderBytesPerDay !== null && sender.bytes + bytes > q.maxSenderBytesPerDay
          ? 'maxSenderBytesPerDay'
          : undefined;
    if (limit !== undefined) {
      const retryAfterMs = Math.max(1, (sender.day + 1) * DAY_MS - now);
      return { refused: 'daily-quota-exceeded', limit, retryAfterMs };
    }
  }
  if (inbox !== undefined) {
    if (q.maxInboxMessages !== null && inbox.messages + 1 > q.maxInboxMessages) {
      return { refused: 'inbox-full', limit: 'maxInboxMessages' };
    }
    if (q.maxInboxBytes !== null && inbox.bytes + bytes > q.maxInboxBytes) {
      return { refused: 'inbox-full', limit: 'maxInboxBytes' };
    }
  }
  return undefined;
}

/** Counts one more stored message of `bytes`. */
export function addUsage(usage: Usage, bytes: number): void {
  usage.messages++;
  usage.bytes += bytes;
}
