/**
 * The chat feature's PDUs. Ops 1–999 belong to longlink (1–6 and 16–19 are taken today);
 * applications number theirs from 1000 up, and this one from 1100.
 */
export const ChatOp = {
  /** Request `{to}`: "I am typing to `to`". Reply `{delivered}`. */
  TYPING: 1100,
  /** Push to the recipient: `{from}`. */
  TYPING_NOTICE: 1101,
  /** Request `{to, upToSeq}`: "I have read your messages up to inbox seq `upToSeq`". */
  READ: 1102,
  /** Push to the messages' sender: `{from, upToSeq}`. */
  READ_NOTICE: 1103,
  /** Request `{uid}`: stop typing and read notices from `uid`. Reply `{blocked}`. */
  BLOCK: 1104,
  /** Request `{uid}`: accept them again. Reply `{blocked}`. */
  UNBLOCK: 1105,
} as const;

/** The ERROR codes of this feature (stable: clients branch on them). */
export const ChatErrorCode = {
  /** The recipient has blocked the sender. */
  Blocked: 'chat-blocked',
  /** A notice addressed to its own sender. */
  SelfTarget: 'chat-self-target',
} as const;
