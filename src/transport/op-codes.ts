/**
 * Operation numbers of the built-in PDUs. A reply carries its request's op with
 * REPLY_FLAG set and its request's seq; pushes carry seq 0.
 * 1–999 are reserved for longlink; applications use 1000 and up.
 */
export const Op = {
  LOGIN: 1,
  LOGOUT: 2,
  HEARTBEAT: 3,
  KICK: 4,
  ERROR: 5,
  /** server → client push at shutdown: {reason, afterMs}; reconnect no sooner than afterMs. */
  RECONNECT: 6,
} as const;

export const REPLY_FLAG = 0x8000_0000;
export const FIRST_APP_OP = 1000;
