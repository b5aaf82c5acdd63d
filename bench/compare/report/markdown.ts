/** The run as Markdown: summary table, ratios, targets, latency curves, notes. */
import { SystemName } from '../servers';
import { clusterMarkdown } from './cluster';
import { RunReport, SystemSummary } from './summary';

function f(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return x.toFixed(digits);
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function table(head: string[], rows: string[][]): string[] {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)];
}

export function toMarkdown(r: RunReport, svgFile: string): string {
  const names = Object.keys(r.summary) as SystemName[];
  const sum = (n: SystemName) => r.summary[n] as SystemSummary;
  const fixed = Number((r.options.fixedRates as number[])[0] ?? 10000);
  const lines: string[] = [];
  const title = names.length ? 'longlink side by side with peers' : 'longlink cluster benchmark';
  lines.push(`# ${title}${r.quick ? ' (quick smoke run)' : ''}`);
  lines.push('');
  lines.push(`${r.startedAt} → ${r.finishedAt}; \`${r.command}\``);
  lines.push('');
  lines.push(
    `Machine: ${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node}, Linux ${r.machine.kernel}` +
      (r.machine.mosquitto ? `, Mosquitto ${r.machine.mosquitto}` : '') +
      `. ${r.machine.pinning}. Load average at start ${r.machine.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${r.machine.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; ` +
      `cores busy before the run (other processes): ${r.machine.coreBusyBefore.map(pct).join(', ')}.`,
  );
  const fd = r.machine.generatorFdLimit;
  const serverFd = (Object.values(r.systems) ?? [])
    .flatMap((x) => x?.scale ?? [])
    .map((x) => x.serverFdLimit)[0];
  lines.push(
    '',
    `Open files: generator processes soft ${fd.soft} / hard ${fd.hard}` +
      (serverFd
        ? `; servers (connection scale, from /proc/PID/limits) soft ${serverFd.soft} / hard ${serverFd.hard}`
        : '') +
      '.',
  );
  lines.push('');
  const o = r.options;
  if (names.length === 0) {
    // Only the cluster scenario ran.
    lines.push(
      `Workload: ${o.rounds} round(s), medians; ${o.seconds} s windows after ${o.warmupSeconds} s warm-up.`,
      '',
    );
    if (r.cluster) lines.push(...clusterMarkdown(r.cluster, r.clusterSummary!, r.options));
    return withNotes(lines, r);
  }
  lines.push(
    `Workload: ${o.rounds} round(s), medians. Connection scale: ${o.connections} clients in ${o.steps} steps, heartbeat every ${o.heartbeatMs} ms. ` +
      `Throughput: ${o.pairs} pairs × ${o.window} in flight, 16-byte content, ${o.seconds} s after ${o.warmupSeconds} s warm-up. ` +
      `Latency: open loop, ${o.latencySeconds} s per rate, ${o.pairs} pairs.`,
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(
    ...table(
      [
        'system',
        'conns',
        'RSS/conn KiB',
        'heap/conn KiB',
        'logins/s',
        'µs CPU/login',
        'µs CPU/heartbeat',
        'msgs/s (closed loop)',
        'server µs CPU/msg',
        'server cores',
        'generator cores',
        'cores busy (all processes)',
        'RSS growth B/msg',
        `p50 / p99 / p99.9 ms @ ${fixed}/s`,
      ],
      names.map((n) => {
        const s = sum(n);
        const a = s.atFixed;
        return [
          s.label,
          f(s.connections, 0),
          f(s.rssPerConnKiB),
          f(s.heapPerConnKiB),
          f(s.loginsPerSec, 0),
          f(s.cpuUsPerLogin),
          f(s.cpuUsPerHeartbeat),
          f(s.msgsPerSec, 0) + (s.generatorBound ? ' (generator-bound)' : ''),
          f(s.cpuUsPerMsg),
          f(s.serverCores, 2),
          f(s.generatorCores, 2),
          s.coreBusy.map(pct).join(' / ') || '–',
          f(s.rssGrowthPerMsgBytes, 0),
          a ? `${f(a.p50Ms, 2)} / ${f(a.p99Ms, 2)} / ${f(a.p999Ms, 2)}` : '–',
        ];
      }),
    ),
  );
  lines.push(
    '',
    'RSS/conn and heap/conn: slope across the ramp steps (heap after forced GC; Node servers only). ' +
      'µs CPU/login: server CPU over the ramp per login, accept included (steadier than logins/s on a noisy machine). ' +
      'µs CPU/heartbeat: server CPU while the clients heartbeat, per heartbeat answered. ' +
      'msgs/s: completed messages (both acks) per second, closed loop. ' +
      'Server and generator cores: CPU each used during the throughput window; cores busy: CPU 0 (generator) / CPU 1 (server) busy with every process, ours and others: ' +
      'a full core that our process used little of was taken by other processes (noise). Generator-bound: the generator core was full and the server core was not. ' +
      'RSS growth: server RSS increase over the throughput window per message.',
  );
  for (const n of Object.keys(r.systems) as SystemName[]) {
    const skipped = r.systems[n]!.skipped;
    if (skipped) lines.push('', `${r.systems[n]!.label}: skipped: ${skipped}`);
  }
  if (r.ratios.length) {
    lines.push('', '## Ratios longlink (memory store) / peer', '');
    lines.push(
      ...table(
        [
          'peer',
          'throughput',
          'CPU/msg',
          `p99 @ ${fixed}/s`,
          'RSS/conn',
          'heap/conn',
          'login rate',
        ],
        r.ratios.map((x) => [
          sum(x.peer).label,
          f(x.throughput, 2),
          f(x.cpuPerMsg, 2),
          f(x.p99AtFixed, 2),
          f(x.rssPerConn, 2),
          f(x.heapPerConn, 2),
          f(x.loginRate, 2),
        ]),
      ),
    );
    lines.push(
      '',
      'Throughput and login rate: higher is better for longlink; the others: lower is better.',
    );
  }
  const plain = r.summary.longlink;
  const limited = r.summary['longlink-limits'];
  if (plain?.cpuUsPerMsg != null && limited?.cpuUsPerMsg != null) {
    const delta = limited.cpuUsPerMsg - plain.cpuUsPerMsg;
    lines.push('', '## Cost of the rate rules (limits.rules)', '');
    lines.push(
      `Four token buckets (per user on every op, per user on SEND, per connection and per IP on every op), ` +
        `none reached: server µs CPU/msg ${f(plain.cpuUsPerMsg)} without, ${f(limited.cpuUsPerMsg)} with, ` +
        `${delta >= 0 ? '+' : ''}${f(delta, 2)} µs per message; a message is at least one frame checked ` +
        `(its SEND; the recipient's cumulative PUSH_ACKs add less than one), so that is at most as much per frame. ` +
        `Closed loop, same run; CPU per message does not move with this machine's CPU steal, msgs/s does.`,
    );
  }
  if (r.targets.length) {
    lines.push('', '## Targets for longlink', '');
    lines.push(
      ...table(
        ['target', 'measured', 'limit', 'met'],
        r.targets.map((t) => [
          t.what,
          `${f(t.value, 2)} ${t.unit}`,
          `${t.limit} ${t.unit}`,
          t.pass === null ? 'not measured' : t.pass ? 'yes' : '**no**',
        ]),
      ),
    );
  }
  lines.push('', '## Latency against offered rate (open loop)', '');
  lines.push(
    ...table(
      [
        'system',
        'offered msgs/s',
        'achieved msgs/s',
        'p50 ms',
        'p99 ms',
        'p99.9 ms',
        'server µs CPU/msg',
        'generator cores',
      ],
      names.flatMap((n) =>
        sum(n).latency.map((p) => [
          sum(n).label,
          `${f(p.offered, 0)} (${p.kind})`,
          f(p.achieved, 0),
          f(p.p50Ms, 2),
          f(p.p99Ms, 2),
          f(p.p999Ms, 2),
          f(p.serverCpuUsPerMsg),
          f(p.generatorCores, 2),
        ]),
      ),
    ),
  );
  lines.push('', `![throughput and p99 against offered rate](${svgFile})`);
  if (r.cluster) lines.push('', ...clusterMarkdown(r.cluster, r.clusterSummary!, r.options));
  return withNotes(lines, r);
}

function withNotes(lines: string[], r: RunReport): string {
  if (r.notes.length) {
    lines.push('', '## Notes', '');
    for (const n of r.notes) lines.push(`- ${n}`);
  }
  lines.push('');
  return lines.join('\n');
}
