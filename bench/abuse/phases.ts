/**
 * The phases of `npm run abuse`, in the order they run, and the messages the
 * orchestrator (abuse.ts) and the attacker process (attacker.ts) exchange.
 */

export const PHASES = [
  'baseline',
  'pdu-flood',
  'connection-flood',
  'slowloris',
  'failed-logins',
  'forged-tokens',
  'never-reads',
  'oversized-frames',
  'spoofed-sender',
  'fuzz',
  'costly-before-login',
  'costly-logged-in',
  'proxied-guesser',
  'made-up-recipients',
  'baseline-after',
] as const;
export type PhaseName = (typeof PHASES)[number];

/** One line per phase for the report: what the attacker does. */
export const PHASE_DESCRIPTIONS: Record<PhaseName, string> = {
  baseline: 'no attack: the bystanders alone (the reference)',
  'pdu-flood':
    'logged-in SEND floods and not-logged-in HEARTBEAT floods far over the packet rate limit, reconnecting when kicked',
  'connection-flood':
    'connects from one IP as fast as it can, holding every admitted connection open',
  slowloris:
    'thousands of never-login connections (silent, sending whole HEARTBEATs, or a LOGIN one byte a second) from many IPs, and logged-in ones dribbling a frame that never completes',
  'failed-logins':
    'token guessing: LOGINs with forged tokens from several connections per IP until banned, then reconnecting',
  'forged-tokens':
    'LOGINs with tokens signed with another secret, expired, unsigned (alg none), tampered, without exp, garbage, or over 8192 characters',
  'never-reads':
    'a logged-in client that never reads while messages of 60 KB are sent to it and it pipelines HEARTBEATs',
  'oversized-frames':
    'frames announcing more than server.maxFrameBytes, before and after login, with their bodies streamed',
  'spoofed-sender':
    'SENDs to the bystanders naming the bystander sender in from/uid/sender and reusing its clientMsgIds',
  fuzz: 'the protocol fuzzer (test/support/fuzzer.ts), from several addresses, with the shipped limits',
  'costly-before-login':
    'one host, 60 connections that never log in, sending the costliest bodies that fit (HEARTBEATs, parsed; SENDs, not) just under the frame rate',
  'costly-logged-in':
    'one logged-in client within every limit: SENDs of maxJsonItems keys, SYNC {lastSeq: 0} on an unacknowledged inbox, PUSH_ACKs of 1,024 seqs',
  'proxied-guesser':
    'token guessing behind a load balancer: PROXY v1/v2 headers from the trusted balancer name two guessers and four honest clients of the same balancer',
  'made-up-recipients':
    'one account spraying SENDs at made-up users within every per-connection and per-IP limit, reconnecting from 8 addresses for fresh per-connection budgets',
  'baseline-after': 'no attack: did the gateway recover (compared with the first baseline)',
};

/** The spoofing SENDs carry this in their content, so the bystander recipients can tell them apart. */
export const SPOOF_MARK = 'spoofed-by-mallory';
/** The account the spoofing attacker owns. */
export const SPOOFER = 'mallory';

/**
 * Each attack has its own source addresses, 127.0.<block>.x (block + 100 × attempt
 * when a phase is run again): a ban or a cap earned in one phase (bans last
 * failedLoginBanMs, 5 min) must not leak into the next.
 */
export const ADDRESS_BLOCK: Record<PhaseName, number> = {
  baseline: 0,
  'pdu-flood': 11,
  'connection-flood': 12,
  slowloris: 13,
  'failed-logins': 14,
  'forged-tokens': 15,
  'never-reads': 16,
  'oversized-frames': 17,
  'spoofed-sender': 18,
  fuzz: 19,
  'costly-before-login': 20,
  'costly-logged-in': 21,
  'proxied-guesser': 30,
  'made-up-recipients': 22,
  'baseline-after': 0,
};

/**
 * The proxied-guesser phase's load balancer: host 1 of the phase's block in each attempt
 * (`--noisy-retries` allows 3). The gateway trusts exactly these (server.trustedProxies).
 */
export function trustedProxyAddresses(): string[] {
  return [0, 1, 2].map((a) => `127.0.${ADDRESS_BLOCK['proxied-guesser'] + 100 * a}.1`);
}

/** The gateway limits the attacks are shaped by (the shipped defaults in a normal run). */
export interface GatewayLimits {
  maxFrameBytes: number;
  maxPreLoginFrameBytes: number;
  maxJsonItems: number;
  maxWriteBufferBytes: number;
  loginTimeoutMs: number;
  maxConnectionsPerIp: number;
  maxConnectsPerIpPerWindow: number;
  connectRateWindowMs: number;
  maxFailedLogins: number;
  failedLoginBanMs: number;
  heartbeatTimeoutMs: number;
  heartbeatSweepMs: number;
  rateIntervalMs: number;
  maxPackets: number;
  kickPackets: number;
  pushWindow: number;
  ackTimeoutMs: number;
  /** The abuse config's per-user SEND bucket (limits.rules send-per-user), if any. */
  sendPerUser: { ratePerSecond: number; burst: number } | null;
}

/**
 * Phases judged by the gateway's CPU as well: what one offender may add to the
 * baseline's, in cores. The aim is 5% of a core; this machine's noise needs the margin.
 */
export const CPU_BOUND_CORES: Partial<Record<PhaseName, number>> = {
  'costly-before-login': 0.15,
  'costly-logged-in': 0.15,
};

/** What the attacker reports for one phase. */
export interface AttackResult {
  phase: PhaseName;
  /** Names a result that is not the phase's own (offenders checked at the end of the run). */
  label?: string;
  /** Connections the attacker opened (or tried to). */
  connects: number;
  /** How its connections ended, as it saw them: `KICK rate-limited`, `refused at accept`, … */
  outcomes: Record<string, number>;
  /** ERROR codes it received. */
  errors: Record<string, number>;
  /** Connections that could not even be opened, by error code. */
  connectErrors: Record<string, number>;
  /** Requests of the attacker the gateway served (replies). */
  replies: number;
  /** One line: what stopped the offender. */
  stoppedBy: string;
  notes: string[];
  /** Ways the offender was NOT stopped as documented: each fails the phase. */
  failures: string[];
}

export interface InitMessage {
  type: 'init';
  port: number;
  secret: string;
  limits: GatewayLimits;
  /** Users the bystanders log in as: [sender, recipient] per pair. */
  bystanderPairs: [string, string][];
  /** How a bystander sender names its clientMsgIds: `${prefix}${n}`. */
  clientMsgIdPrefixes: string[];
  seed: number;
  slowConnections: number;
  dribblers: number;
}

export interface RunMessage {
  type: 'run';
  phase: PhaseName;
  seconds: number;
  /** 0, then 1, 2… when a phase is run again: fresh addresses and accounts (bans last 5 min). */
  attempt: number;
}

export interface FinishMessage {
  type: 'finish';
}

export type ToAttacker = InitMessage | RunMessage | FinishMessage;

export type FromAttacker =
  | { type: 'ready' }
  | { type: 'result'; result: AttackResult }
  /** Answers `finish`: checks of offenders left running across phases (logged-in dribblers). */
  | { type: 'finished'; results: AttackResult[] }
  | { type: 'error'; message: string };
