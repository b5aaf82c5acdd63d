/** Messaging PDUs (reserved range). A SEND's reply is the SEND_ACK. */
export const MsgOp = {
  /** client → server: {to, clientMsgId, content}; reply {clientMsgId, msgId, seq, ts} */
  SEND: 16,
  /** server → client push (seq 0): {msgId, seq, from, content, ts} */
  MSG: 17,
  /** client → server: {upTo} and/or {seqs}; no reply */
  PUSH_ACK: 18,
  /** client → server: {lastSeq}; reply {lastSeq: newest inbox seq}, then pushes resume after lastSeq */
  SYNC: 19,
} as const;
