import { BystanderPhase, Ledger } from './bystander';
import { LoopDelay } from './gateway';
import { Percentiles } from './latency';
import { AbuseOptions } from './options';
import { AttackResult, GatewayLimits, PHASE_DESCRIPTIONS, PhaseName } from './phases';

/** CPU in cores (1 = one core busy all the phase) and how busy each core was in all. */
export interface PhaseCpu {
  gateway: number;
  attacker: number;
  measuring: number;
  coreBusy: number[];
  /** Share of each core taken by processes that are not ours (other people's work: noise). */
  others: number[];
}

/** Other processes took more than this share of a core: the phase's figures are suspect. */
export const NOISY_SHARE = 0.15;

export function isNoisy(cpu: PhaseCpu): boolean {
  return cpu.others.some((x) => x > NOISY_SHARE);
}

/** A phase run again because other processes took a core during it. */
export interface EarlierAttempt {
  deliveryP99: number;
  heartbeatP99: number;
  others: number[];
  pass: boolean;
}

export interface PhaseReport {
  name: PhaseName;
  /** 0 unless the phase was run again (`--noisy-retries`). */
  attempt: number;
  earlierAttempts: EarlierAttempt[];
  seconds: number;
  bystander: BystanderPhase;
  attack: AttackResult;
  cpu: PhaseCpu;
  gatewayRssBytes: { before: number; after: number };
  /** This (the measuring) process's event-loop delay: its own stalls, e.g. starved on CPU 0. */
  measuringLoopDelay: LoopDelay;
  /** Connects the kernel dropped on a full listen backlog during the phase. */
  listenOverflows: number;
  /** The gateway's event-loop delay during the phase: its own stalls. */
  gatewayLoopDelay: LoopDelay | undefined;
  /** p99 ÷ the first baseline's p99. */
  deliveryRatio: number;
  heartbeatRatio: number;
  pass: boolean;
  reasons: string[];
}

export interface AbuseReport {
  date: string;
  machine: string;
  /** Commit and build time of the gateway measured. */
  build: string;
  pinning: string;
  options: AbuseOptions;
  limits: GatewayLimits;
  phases: PhaseReport[];
  /** Offenders checked at the end of the run (they outlive their phase). */
  deferred: AttackResult[];
  ledger: Ledger;
  gatewayAlive: boolean;
  pass: boolean;
}

/** The bound a phase's p99 must stay under: +20% of the baseline's, plus the allowance. */
export const bound = (baseline: number, allowanceMs: number) => baseline * 1.2 + allowanceMs;

/** Pass/fail of one phase against the first baseline, with the reasons it failed. */
export function judge(
  bystander: BystanderPhase,
  attack: AttackResult,
  baseline: BystanderPhase | undefined,
  allowanceMs: number,
  /** The gateway's cores in this phase and the baseline's, and what the phase may add (CPU_BOUND_CORES). */
  cost?: { cores: number; baselineCores: number | undefined; boundCores: number | undefined },
): Pick<PhaseReport, 'deliveryRatio' | 'heartbeatRatio' | 'pass' | 'reasons'> {
  const reasons: string[] = [];
  if (cost?.boundCores !== undefined && cost.baselineCores !== undefined) {
    const added = cost.cores - cost.baselineCores;
    if (added > cost.boundCores) {
      reasons.push(
        `gateway CPU ${pct(cost.cores)} of a core, ${pct(added)} over the baseline's ${pct(cost.baselineCores)} (bound ${pct(cost.boundCores)})`,
      );
    }
  }
  const check = (what: string, now: Percentiles, base: Percentiles | undefined) => {
    if (now.count === 0) {
      reasons.push(`no ${what} samples`);
      return NaN;
    }
    if (!base) return 1;
    const limit = bound(base.p99, allowanceMs);
    if (now.p99 > limit) {
      reasons.push(
        `${what} p99 ${now.p99.toFixed(2)} ms > ${limit.toFixed(2)} ms (1.2 × ${base.p99.toFixed(2)} + ${allowanceMs})`,
      );
    }
    return now.p99 / base.p99;
  };
  const deliveryRatio = check('delivery', bystander.delivery, baseline?.delivery);
  const heartbeatRatio = check('heartbeat', bystander.heartbeat, baseline?.heartbeat);
  for (const [code, n] of Object.entries(bystander.sendErrors)) {
    reasons.push(`bystander SENDs answered ${code} ×${n}`);
  }
  if (bystander.heartbeatsMissed > 0) {
    reasons.push(`${bystander.heartbeatsMissed} bystander heartbeats unanswered within 2 s`);
  }
  reasons.push(...bystander.problems.map((p) => `bystander ${p}`));
  reasons.push(...attack.failures.map((f) => `offender: ${f}`));
  return { deliveryRatio, heartbeatRatio, pass: reasons.length === 0, reasons };
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const trio = (p: Percentiles) => `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.p999)}`;
const ratio = (r: number) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '-');
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '-');
const mib = (b: number) => (Number.isFinite(b) ? `${(b / 1048576).toFixed(0)} MiB` : '?');
const cell = (s: string) => s.replace(/\|/g, '\\|');

export function formatMarkdown(r: AbuseReport): string {
  const o = r.options;
  const l = r.limits;
  const base = r.phases[0];
  const lines: string[] = [];
  lines.push('# Abuse resistance: what attacks do to the other clients');
  lines.push('');
  lines.push(
    `${r.date}; ${r.machine}; ${r.build}. ${r.pinning}. ` +
      `\`npm run abuse -- --seconds ${o.seconds}` +
      `${o.gatewayNodeFlags.length ? ` --gateway-node-flags='${o.gatewayNodeFlags.join(' ')}'` : ''}\`` +
      ` (seed ${o.seed}).`,
  );
  lines.push('');
  lines.push(
    `Gateway: \`node ${o.gatewayNodeFlags.map((f) => `${f} `).join('')}dist/main.js\`, memory store, ` +
      `every abuse limit as shipped (config/default.yaml): ` +
      `rateLimit ${l.maxPackets}/${l.kickPackets} frames per ${l.rateIntervalMs} ms, ` +
      `${l.maxConnectsPerIpPerWindow} connects per IP per ${l.connectRateWindowMs} ms, ` +
      `${l.maxConnectionsPerIp} connections per IP, ban after ${l.maxFailedLogins} failed logins for ${l.failedLoginBanMs / 1000} s, ` +
      `login deadline ${l.loginTimeoutMs / 1000} s, heartbeat timeout ${l.heartbeatTimeoutMs / 1000} s, ` +
      `maxFrameBytes ${l.maxFrameBytes}, maxWriteBufferBytes ${l.maxWriteBufferBytes}.`,
  );
  lines.push('');
  lines.push(
    `Bystanders (in the measuring process): ${o.pairs} logged-in sender → recipient pairs, ${o.rate} SENDs/s in all ` +
      `(open loop; senders are bare protocol clients, recipients the client SDK, \`LonglinkClient\`), ` +
      `delivery latency = SEND written → message event at the recipient; a third client's ` +
      `HEARTBEAT round trips, one every ${o.heartbeatGapMs} ms. Attackers: a separate process, ` +
      `from their own addresses (127.0.x.y, x ≥ 11), one phase at a time.`,
  );
  lines.push('');
  lines.push(
    `**Criterion** (issue 6): the offender is stopped, nothing acknowledged is lost, and each ` +
      `bystander p99 ≤ 1.2 × its baseline p99 **+ ${o.allowanceMs} ms** (an absolute allowance: at ` +
      `sub-millisecond latencies, timer and scheduler noise alone is of that order), with no bystander ` +
      `error, kick or missed heartbeat.`,
  );
  lines.push('');
  lines.push(
    '| Phase | Delivery p50 / p99 / p99.9 ms | ÷ baseline p99 | Heartbeat p50 / p99 / p99.9 ms | ÷ baseline p99 | Gateway CPU | Result |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const p of r.phases) {
    lines.push(
      `| ${p.name} | ${trio(p.bystander.delivery)} | ${p === base ? '-' : ratio(p.deliveryRatio)} | ` +
        `${trio(p.bystander.heartbeat)} | ${p === base ? '-' : ratio(p.heartbeatRatio)} | ` +
        `${pct(p.cpu.gateway)} | ${p.pass ? 'pass' : '**FAIL**'}${isNoisy(p.cpu) ? ' (noisy)' : ''}` +
        `${p.attempt > 0 ? ` (attempt ${p.attempt + 1})` : ''} |`,
    );
  }
  lines.push('');
  lines.push(
    `Bounds: delivery p99 ≤ ${ms(bound(base.bystander.delivery.p99, o.allowanceMs))} ms, heartbeat ` +
      `p99 ≤ ${ms(bound(base.bystander.heartbeat.p99, o.allowanceMs))} ms. Gateway CPU: share of its ` +
      `core (CPU 1) over the phase. (noisy): other processes took more than ${pct(NOISY_SHARE)} of ` +
      `a core during the phase (see below), so its figures say more about them than about the gateway; ` +
      `such a phase, when it failed (or was the baseline), is run again up to ${r.options.noisyRetries} ` +
      `time(s) on fresh addresses and accounts, and the last attempt is reported (attempt N).`,
  );
  lines.push('');
  lines.push('## What stopped the offender');
  lines.push('');
  lines.push('| Phase | Attack | Connections | What stopped it |');
  lines.push('| --- | --- | ---: | --- |');
  for (const a of [...r.phases.map((p) => p.attack), ...r.deferred]) {
    if (a.phase === 'baseline' || a.phase === 'baseline-after') continue;
    const desc = a.label ?? PHASE_DESCRIPTIONS[a.phase];
    lines.push(
      `| ${a.phase} | ${cell(desc)} | ${a.connects.toLocaleString('en-US')} | ${cell(a.stoppedBy)} |`,
    );
  }
  lines.push('');
  lines.push('## Where the CPU went');
  lines.push('');
  lines.push(
    'Cores used during each phase (1 = a whole core), how busy each core was in all (what is not ' +
      'ours is other processes: noise), the event-loop delay of the gateway and of the measuring ' +
      "process (how late a 10 ms timer fired in each: its own stalls; the measuring process's says " +
      'whether the attacker starved it on CPU 0), connects the kernel dropped on a full listen ' +
      'backlog, and the gateway RSS.',
  );
  lines.push('');
  lines.push(
    '| Phase | Seconds | Gateway | Attacker | Measuring | CPU 0 busy (others) | CPU 1 busy (others) | Gateway loop delay p99 / max ms | Measuring loop delay p99 / max ms | Listen overflows | Gateway RSS |',
  );
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of r.phases) {
    const loop = p.gatewayLoopDelay;
    lines.push(
      `| ${p.name} | ${p.seconds.toFixed(1)} | ${p.cpu.gateway.toFixed(2)} | ${p.cpu.attacker.toFixed(2)} | ` +
        `${p.cpu.measuring.toFixed(2)} | ${pct(p.cpu.coreBusy[0])} (${pct(p.cpu.others[0])}) | ` +
        `${pct(p.cpu.coreBusy[1])} (${pct(p.cpu.others[1])}) | ` +
        `${loop ? `${ms(loop.p99)} / ${ms(loop.max)}` : '?'} | ` +
        `${ms(p.measuringLoopDelay.p99)} / ${ms(p.measuringLoopDelay.max)} | ${p.listenOverflows} | ` +
        `${mib(p.gatewayRssBytes.before)} → ${mib(p.gatewayRssBytes.after)} |`,
    );
  }
  lines.push('');
  lines.push('## Details');
  lines.push('');
  for (const p of r.phases) {
    const a = p.attack;
    lines.push(`- **${p.name}** (${p.pass ? 'pass' : 'FAIL'}): ${PHASE_DESCRIPTIONS[p.name]}.`);
    for (const e of p.earlierAttempts) {
      lines.push(
        `  - run again: an earlier attempt was noisy (others took ${e.others.map(pct).join(', ')} of CPU 0, 1): ` +
          `delivery p99 ${ms(e.deliveryP99)} ms, heartbeat p99 ${ms(e.heartbeatP99)} ms, ${e.pass ? 'pass' : 'fail'}`,
      );
    }
    for (const note of a.notes) lines.push(`  - ${note}`);
    if (Object.keys(a.connectErrors).length > 0) {
      lines.push(`  - connect errors: ${JSON.stringify(a.connectErrors)}`);
    }
    for (const reason of p.reasons) lines.push(`  - **${reason}**`);
  }
  for (const a of r.deferred) {
    lines.push(`- **${a.label ?? a.phase}** (${a.failures.length === 0 ? 'pass' : 'FAIL'})`);
    for (const note of a.notes) lines.push(`  - ${note}`);
    for (const f of a.failures) lines.push(`  - **offender: ${f}**`);
  }
  lines.push('');
  lines.push('## Nothing acknowledged lost');
  lines.push('');
  const g = r.ledger;
  lines.push(
    `${g.acked.toLocaleString('en-US')} bystander messages acknowledged (SEND_ACK); ` +
      `${g.delivered.toLocaleString('en-US')} delivered, ${g.missing} missing, ${g.duplicated} delivered twice, ` +
      `${g.altered} altered, ${g.phantom} phantom, ${g.gaps} out of order; ${g.deliveredUnacked} delivered without ` +
      `a SEND_ACK (the sender gave up waiting). Spoofed messages at the recipients, by the sender they ` +
      `showed: ${JSON.stringify(g.spoofedFrom)}.`,
  );
  for (const f of g.failures) lines.push(`- **${f}**`);
  lines.push('');
  lines.push(
    `**${r.pass ? 'PASS' : 'FAIL'}**: ${r.phases.filter((p) => !p.pass).length} of ${r.phases.length} phases failed` +
      `${r.deferred.some((d) => d.failures.length > 0) ? ', end-of-run offender checks failed' : ''}` +
      `${g.failures.length > 0 ? ', acknowledged messages were lost or altered' : ''}` +
      `${r.gatewayAlive ? '' : ', the gateway died'}.`,
  );
  return lines.join('\n') + '\n';
}
