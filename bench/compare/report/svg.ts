/**
 * An SVG chart of the open-loop runs: achieved throughput (left) and p99
 * latency (right) against the offered rate, one line per system, log scales.
 */
import { SystemName } from '../servers';
import { RunReport } from './summary';

const COLORS: Record<SystemName, string> = {
  longlink: '#d62728',
  'longlink-sqlite': '#ff9896',
  'longlink-ws': '#e377c2',
  'longlink-limits': '#8c564b',
  relay: '#7f7f7f',
  mosquitto: '#1f77b4',
  aedes: '#2ca02c',
  socketio: '#9467bd',
};

const W = 1000;
const H = 470;
const PANEL_W = 400;
const PANEL_H = 300;
const TOP = 60;
const LEFTS = [80, 580];

interface Axis {
  min: number;
  max: number;
}

function logAxis(values: number[]): Axis {
  const v = values.filter((x) => Number.isFinite(x) && x > 0);
  if (v.length === 0) return { min: 1, max: 10 };
  return {
    min: 10 ** Math.floor(Math.log10(Math.min(...v))),
    max: 10 ** Math.ceil(Math.log10(Math.max(...v))),
  };
}

function pos(axis: Axis, value: number, length: number): number {
  const span = Math.log10(axis.max) - Math.log10(axis.min);
  return ((Math.log10(value) - Math.log10(axis.min)) / span) * length;
}

function label(v: number): string {
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(
  left: number,
  title: string,
  yTitle: string,
  x: Axis,
  y: Axis,
  series: { name: SystemName; label: string; points: [number, number][] }[],
  diagonal: boolean,
): string {
  const out: string[] = [];
  const px = (v: number) => left + pos(x, v, PANEL_W);
  const py = (v: number) => TOP + PANEL_H - pos(y, v, PANEL_H);
  out.push(
    `<text x="${left + PANEL_W / 2}" y="${TOP - 15}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  );
  out.push(
    `<rect x="${left}" y="${TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#333"/>`,
  );
  for (let v = x.min; v <= x.max * 1.0001; v *= 10) {
    out.push(`<line x1="${px(v)}" y1="${TOP}" x2="${px(v)}" y2="${TOP + PANEL_H}" stroke="#ddd"/>`);
    out.push(
      `<text x="${px(v)}" y="${TOP + PANEL_H + 16}" text-anchor="middle">${label(v)}</text>`,
    );
  }
  for (let v = y.min; v <= y.max * 1.0001; v *= 10) {
    out.push(
      `<line x1="${left}" y1="${py(v)}" x2="${left + PANEL_W}" y2="${py(v)}" stroke="#ddd"/>`,
    );
    out.push(`<text x="${left - 6}" y="${py(v) + 4}" text-anchor="end">${label(v)}</text>`);
  }
  out.push(
    `<text x="${left + PANEL_W / 2}" y="${TOP + PANEL_H + 36}" text-anchor="middle">offered rate (msgs/s, log)</text>`,
  );
  out.push(
    `<text transform="translate(${left - 55},${TOP + PANEL_H / 2}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`,
  );
  if (diagonal) {
    const a = Math.max(x.min, y.min);
    const b = Math.min(x.max, y.max);
    if (a < b)
      out.push(
        `<line x1="${px(a)}" y1="${py(a)}" x2="${px(b)}" y2="${py(b)}" stroke="#aaa" stroke-dasharray="4 4"/>`,
      );
  }
  for (const s of series) {
    const pts = s.points.filter(([a, b]) => a > 0 && b > 0 && Number.isFinite(b));
    if (pts.length === 0) continue;
    const color = COLORS[s.name];
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([a, b]) => `${px(a).toFixed(1)},${py(b).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [a, b] of pts)
      out.push(
        `<circle cx="${px(a).toFixed(1)}" cy="${py(b).toFixed(1)}" r="3.5" fill="${color}"/>`,
      );
  }
  return out.join('\n');
}

export function toSvg(r: RunReport): string {
  const names = Object.keys(r.summary) as SystemName[];
  const series = names.map((n) => ({
    name: n,
    label: r.summary[n]!.label,
    latency: r.summary[n]!.latency,
  }));
  const offered = series.flatMap((s) => s.latency.map((p) => p.offered));
  const x = logAxis(offered);
  const tp = series.map((s) => ({
    name: s.name,
    label: s.label,
    points: s.latency.map((p) => [p.offered, p.achieved] as [number, number]),
  }));
  const lat = series.map((s) => ({
    name: s.name,
    label: s.label,
    points: s.latency.map((p) => [p.offered, p.p99Ms] as [number, number]),
  }));
  const yTp = logAxis([...tp.flatMap((s) => s.points.map((p) => p[1])), ...offered]);
  const yLat = logAxis(lat.flatMap((s) => s.points.map((p) => p[1])));
  const legend = series
    .map((s, i) => {
      const lx = 80 + (i % 3) * 300;
      const ly = H - 45 + Math.floor(i / 3) * 20;
      return `<rect x="${lx}" y="${ly - 10}" width="14" height="10" fill="${COLORS[s.name]}"/><text x="${lx + 20}" y="${ly}">${esc(s.label)}</text>`;
    })
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(`Open loop, 16-byte messages, both acks: ${r.machine.cpuModel}, ${r.machine.cores} cores${r.quick ? ' (quick run)' : ''}`)}</text>`,
    panel(LEFTS[0], 'Throughput (completed msgs/s)', 'achieved msgs/s (log)', x, yTp, tp, true),
    panel(LEFTS[1], 'p99 latency, send → delivery', 'p99 ms (log)', x, yLat, lat, false),
    legend,
    '</svg>',
    '',
  ].join('\n');
}
