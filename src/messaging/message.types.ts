/** A message as submitted by a sender; content is the JSON text of the client's value. */
export interface NewMessage {
  from: string;
  to: string;
  clientMsgId: string;
  content: string;
}

/** A stored message: msgId is global, seq is the recipient's inbox sequence (1, 2, 3, … no gaps). */
export interface StoredMessage extends NewMessage {
  msgId: string;
  seq: number;
  ts: number;
}

/** The outcome of an append: the stored record, and whether it was already there (a resend). */
export interface AppendResult {
  message: StoredMessage;
  duplicate: boolean;
  /** Never set here: lets `outcome.refused === undefined` tell the two outcomes apart. */
  refused?: undefined;
}

/**
 * Limits append() enforces on each new message (docs/MESSAGING.md, "Quotas"); null = off.
 * Bytes are the UTF-8 bytes of `content` as stored.
 */
export interface MessageQuotas {
  maxContentBytes: number | null;
  /** Per recipient: stored messages it has not acknowledged (seq above its ack cursor). */
  maxInboxMessages: number | null;
  maxInboxBytes: number | null;
  /** Per sender, per UTC day: new messages stored. */
  maxSenderMessagesPerDay: number | null;
  maxSenderBytesPerDay: number | null;
}

/** The ERROR code a refused message is answered with. */
export type QuotaCode = 'content-too-large' | 'inbox-full' | 'daily-quota-exceeded';

/** An append outcome: the message would exceed a quota, so nothing was stored for it. */
export interface AppendRefusal {
  refused: QuotaCode;
  /** The limit it would exceed. */
  limit: keyof MessageQuotas;
  /** daily-quota-exceeded: ms until the sender's UTC day ends and its counts start again. */
  retryAfterMs?: number;
  message?: undefined;
}

export type AppendOutcome = AppendResult | AppendRefusal;
