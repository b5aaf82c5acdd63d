import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AttackTally, bump } from '../../../test/support/attack-client';
import { FuzzReport, parseDocumentedCodes, runFuzz } from '../../../test/support/fuzzer';
import { Attack, describeCounts, resultOf } from './context';

const ADDRESSES = 4;
const CONNECTIONS_PER_ADDRESS = 8;
const PROTOCOL_MD = join(__dirname, '..', '..', '..', 'docs', 'PROTOCOL.md');

/**
 * The protocol fuzzer (test/support/fuzzer.ts) from 4 addresses, 8 connections
 * each, for the phase's duration, against the shipped limits: unlike `npm run fuzz`,
 * nothing is lifted, so most fuzzing connections end rate-limited, banned (its bad
 * tokens are failed logins) or refused at accept (`limitsApply`: those are not
 * failures). The gateway must keep answering as documented; the fuzzer's own
 * failures (undocumented codes, internal-error, a malformed server frame, a
 * connection left open…) fail the phase.
 */
export const fuzz: Attack = async (ctx) => {
  const documented = parseDocumentedCodes(readFileSync(PROTOCOL_MD, 'utf8'));
  const reports: FuzzReport[] = await Promise.all(
    Array.from({ length: ADDRESSES }, (_, a) =>
      runFuzz({
        port: ctx.port,
        frames: Number.MAX_SAFE_INTEGER,
        connections: CONNECTIONS_PER_ADDRESS,
        seed: (ctx.seed + a + 1000 * ctx.attempt) >>> 0,
        jwtSecret: ctx.secret,
        maxFrameBytes: ctx.limits.maxFrameBytes,
        maxPreLoginFrameBytes: ctx.limits.maxPreLoginFrameBytes,
        documented,
        localAddress: ctx.address(1 + a),
        timeLimitMs: ctx.seconds * 1000,
        answerTimeoutMs: 5000,
        limitsApply: true,
      }),
    ),
  );
  const tally = new AttackTally();
  let frames = 0;
  const failures: string[] = [];
  for (const r of reports) {
    tally.connects += r.lives;
    tally.replies += r.replies;
    frames += r.framesSent;
    for (const [k, n] of Object.entries(r.closes)) bump(tally.outcomes, k, n);
    for (const [k, n] of Object.entries(r.errors)) bump(tally.errors, k, n);
    for (const [k, n] of Object.entries(r.kicks)) bump(tally.outcomes, `KICK ${k}`, n);
    const byMessage = new Map<string, number>();
    for (const f of r.failures) {
      const key = f.message.replace(/\d+/g, 'N');
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
    }
    for (const [message, n] of byMessage) {
      failures.push(`fuzzer (seed ${r.seed}): ${n}× ${message}`);
    }
  }
  return resultOf(ctx.phase, tally, {
    stoppedBy: `${describeCounts(tally.errors, 'ERROR ')}; lives ended: ${describeCounts(tally.outcomes)}`,
    notes: [
      `${frames.toLocaleString('en-US')} frames from ${ADDRESSES}×${CONNECTIONS_PER_ADDRESS} connections (${ctx.address(1)}…), seeds ${reports.map((r) => r.seed).join(', ')}`,
    ],
    failures,
  });
};
