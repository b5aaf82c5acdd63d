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
}
