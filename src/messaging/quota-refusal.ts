import { ErrorCode } from '../transport/error-codes.js';
import { LonglinkException } from '../transport/longlink.exception.js';
import { AppendRefusal, MessageQuotas } from './message.types.js';

/** What each limit counts, after "messaging.<key> = <value>". */
const UNIT: Record<keyof MessageQuotas, string> = {
  maxContentBytes: 'bytes of content',
  maxInboxMessages: 'unacknowledged messages in the recipient inbox',
  maxInboxBytes: 'unacknowledged bytes in the recipient inbox',
  maxSenderMessagesPerDay: 'messages per UTC day',
  maxSenderBytesPerDay: 'bytes per UTC day',
};

/** "3 h 12 min", "12 min", "40 s": for people; programs read retryAfterMs. */
function wait(ms: number): string {
  if (ms < 60_000) return `${Math.ceil(ms / 1000)} s`;
  const minutes = Math.ceil(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * The ERROR a SEND refused by the store is answered with: the refusal's code, a message naming
 * the limit (`content too large: messaging.maxContentBytes = 16384 bytes of content; not
 * stored`) and, for daily-quota-exceeded, retryAfterMs.
 */
export function toQuotaException(refusal: AppendRefusal, quotas: MessageQuotas): LonglinkException {
  const { refused, limit, retryAfterMs } = refusal;
  const named = `messaging.${limit} = ${quotas[limit]} ${UNIT[limit]}`;
  if (refused === ErrorCode.DailyQuotaExceeded) {
    const later = wait(retryAfterMs ?? 0);
    const message = `daily quota used up: ${named}; not stored, try again in ${later}`;
    return new LonglinkException(refused, message, false, retryAfterMs);
  }
  const what = refused === ErrorCode.InboxFull ? 'recipient inbox full' : 'content too large';
  return new LonglinkException(refused, `${what}: ${named}; not stored`);
}
