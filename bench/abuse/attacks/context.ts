import { mintToken } from '../../../src/auth/token.factory';
import { AttackTally } from '../../../test/support/attack-client';
import { AttackResult, GatewayLimits, PhaseName } from '../phases';

/** What every attack gets from the attacker process. */
export interface AttackContext {
  phase: PhaseName;
  port: number;
  secret: string;
  limits: GatewayLimits;
  /** How long to attack. */
  seconds: number;
  /** 0, or how many times this phase ran before: accounts the attack creates state for must differ. */
  attempt: number;
  /** Source address 127.0.<this phase's block + 100 × attempt>.<host>. */
  address(host: number): string;
  /** A valid login token for `uid` (an attacker may own accounts). */
  token(uid: string): Promise<string>;
  bystanderPairs: [string, string][];
  clientMsgIdPrefixes: string[];
  seed: number;
  /** Never-login connections of the slowloris phase. */
  slowConnections: number;
  /** Logged-in one-byte-a-second clients of the slowloris phase (checked at the end of the run). */
  dribblers: number;
  /** Registers a check of offenders that outlive the phase; it runs at `finish`. */
  defer(check: () => Promise<AttackResult>): void;
}

export type Attack = (ctx: AttackContext) => Promise<AttackResult>;

export function tokenMinter(secret: string): (uid: string) => Promise<string> {
  const cache = new Map<string, Promise<string>>();
  return (uid) => {
    let token = cache.get(uid);
    if (!token) {
      token = mintToken(uid, { secret, expiresIn: '2h' });
      cache.set(uid, token);
    }
    return token;
  };
}

/** `min–max` of durations in ms, as seconds with one decimal; `-` when there are none. */
export function secondsSpan(ms: number[]): string {
  if (ms.length === 0) return '-';
  const s = (x: number) => (x / 1000).toFixed(1);
  return `${s(Math.min(...ms))}–${s(Math.max(...ms))} s`;
}

/** `KICK rate-limited ×812, refused at accept ×9,120`: largest first. */
export function describeCounts(counts: Record<string, number>, prefix = ''): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${prefix}${k} ×${n.toLocaleString('en-US')}`)
    .join(', ');
}

/** An AttackResult from a tally; `stoppedBy` defaults to the outcomes and ERROR codes seen. */
export function resultOf(
  phase: PhaseName,
  tally: AttackTally,
  extra: { stoppedBy?: string; notes?: string[]; failures?: string[]; label?: string } = {},
): AttackResult {
  const seen = [describeCounts(tally.outcomes), describeCounts(tally.errors, 'ERROR ')]
    .filter((s) => s.length > 0)
    .join('; ');
  return {
    phase,
    label: extra.label,
    connects: tally.connects,
    outcomes: { ...tally.outcomes },
    errors: { ...tally.errors },
    connectErrors: { ...tally.connectErrors },
    replies: tally.replies,
    stoppedBy: extra.stoppedBy ?? (seen || 'nothing seen'),
    notes: extra.notes ?? [],
    failures: extra.failures ?? [],
  };
}

/** Outcomes other than the expected ones, as a failure line (or none). */
export function unexpectedOutcomes(
  tally: AttackTally,
  expected: readonly string[],
  what: string,
): string[] {
  const other = Object.entries(tally.outcomes).filter(([k]) => !expected.includes(k));
  if (other.length === 0) return [];
  return [
    `${what}: ${describeCounts(Object.fromEntries(other))} (expected only ${expected.join(' / ')})`,
  ];
}

/** Runs `lane` on `count` lanes until `stopAt`, each lane looping. */
export async function lanes(
  count: number,
  stopAt: number,
  lane: (index: number, life: number) => Promise<void>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      for (let life = 0; Date.now() < stopAt; life++) await lane(index, life);
    }),
  );
}
