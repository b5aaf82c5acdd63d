/**
 * The attacker process of `npm run abuse`: forked by abuse.ts (pinned to CPU 0,
 * niced), it runs one attack phase at a time when told to over IPC and reports
 * what the gateway did to it. It runs apart from the measured bystanders, so its
 * own event loop (thousands of sockets, floods) never delays their timestamps.
 */
import { Attack, AttackContext, tokenMinter } from './attacks/context';
import { connectionFlood } from './attacks/connection-flood';
import { costlyBeforeLogin, costlyLoggedIn } from './attacks/costly-bodies';
import { madeUpRecipients } from './attacks/made-up-recipients';
import { failedLogins } from './attacks/failed-logins';
import { forgedTokens } from './attacks/forged-tokens';
import { fuzz } from './attacks/fuzz';
import { neverReads } from './attacks/never-reads';
import { oversizedFrames } from './attacks/oversized-frames';
import { pduFlood } from './attacks/pdu-flood';
import { proxiedGuesser } from './attacks/proxied-guesser';
import { slowloris } from './attacks/slowloris';
import { spoofedSender } from './attacks/spoofed-sender';
import {
  ADDRESS_BLOCK,
  AttackResult,
  FromAttacker,
  InitMessage,
  PhaseName,
  ToAttacker,
} from './phases';

const ATTACKS: Record<PhaseName, Attack | null> = {
  baseline: null,
  'pdu-flood': pduFlood,
  'connection-flood': connectionFlood,
  slowloris,
  'failed-logins': failedLogins,
  'forged-tokens': forgedTokens,
  'never-reads': neverReads,
  'oversized-frames': oversizedFrames,
  'spoofed-sender': spoofedSender,
  fuzz,
  'costly-before-login': costlyBeforeLogin,
  'costly-logged-in': costlyLoggedIn,
  'proxied-guesser': proxiedGuesser,
  'made-up-recipients': madeUpRecipients,
  'baseline-after': null,
};

const reply = (message: FromAttacker) => process.send!(message);
let init: InitMessage | undefined;
let token: (uid: string) => Promise<string>;
const deferred: (() => Promise<AttackResult>)[] = [];

async function run(phase: PhaseName, seconds: number, attempt: number): Promise<AttackResult> {
  const attack = ATTACKS[phase];
  if (!attack || !init) {
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return {
      phase,
      connects: 0,
      outcomes: {},
      errors: {},
      connectErrors: {},
      replies: 0,
      stoppedBy: '-',
      notes: [],
      failures: [],
    };
  }
  const ctx: AttackContext = {
    phase,
    port: init.port,
    secret: init.secret,
    limits: init.limits,
    seconds,
    attempt,
    address: (host) => `127.0.${ADDRESS_BLOCK[phase] + 100 * attempt}.${host}`,
    token,
    bystanderPairs: init.bystanderPairs,
    clientMsgIdPrefixes: init.clientMsgIdPrefixes,
    seed: init.seed,
    slowConnections: init.slowConnections,
    dribblers: init.dribblers,
    defer: (check) => deferred.push(check),
  };
  return attack(ctx);
}

process.on('message', (message: ToAttacker) => {
  const handle = async () => {
    switch (message.type) {
      case 'init':
        init = message;
        token = tokenMinter(message.secret);
        reply({ type: 'ready' });
        break;
      case 'run':
        reply({
          type: 'result',
          result: await run(message.phase, message.seconds, message.attempt),
        });
        break;
      case 'finish':
        reply({ type: 'finished', results: await Promise.all(deferred.map((check) => check())) });
        break;
    }
  };
  handle().catch((err: unknown) =>
    reply({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    }),
  );
});
process.on('disconnect', () => process.exit(0));
