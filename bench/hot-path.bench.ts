/**
 * Hot-path benchmark: HEARTBEAT PDUs pipelined over a few connections through
 * the full gateway (transport, guards, Nest pipeline) and through a bare
 * node:net server with the same codec, in the same run. Reports frames/s,
 * server CPU per frame and the ratio. Usage:
 *   npm run bench:hotpath -- [--connections 4] [--inflight 256] [--seconds 5] [--rounds 3]
 */
import { ChildProcess } from 'node:child_process';
import { connect, Socket } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mintToken } from '../src/auth/token.factory';
import { DEV_JWT_SECRET } from '../src/config/config.constants';
import { HEADER_BYTES, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op } from '../src/transport/ops';
import {
  PINNED,
  cpuMicros,
  launchServer,
  machine,
  median,
  pinGenerator,
  stopServer,
  waitForPort,
} from './support/process';

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const CONNECTIONS = Number(args.connections);
const INFLIGHT = Number(args.inflight);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const ROOT = join(__dirname, '..');

interface Target {
  name: string;
  start(port: number): ChildProcess;
  login: boolean;
}

const targets: Target[] = [
  {
    name: 'bare node:net',
    login: false,
    start: (port) =>
      launchServer(['--import', 'tsx', join(__dirname, 'peers/bare-heartbeat.server.ts')], {
        PORT: String(port),
      }),
  },
  {
    name: 'longlink',
    login: true,
    start: (port) =>
      launchServer(
        [
          ...(args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(__dirname, 'results')] : []),
          join(ROOT, 'dist/main.js'),
        ],
        {
          LONGLINK_PORT: String(port),
          LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
          LONGLINK_CONFIG: join(__dirname, 'hot-path.config.yaml'),
        },
      ),
  },
];

/**
 * One pipelined connection. Replies to HEARTBEAT have no body, so counting
 * received bytes counts replies: the generator does almost no work per frame.
 */
async function openLoad(
  port: number,
  login: boolean,
  uid: string,
): Promise<{ socket: Socket; count: () => number; start: () => void }> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>(
    (resolve, reject) => (socket.once('connect', resolve), socket.once('error', reject)),
  );
  if (login) {
    const token = await mintToken(uid, { secret: DEV_JWT_SECRET });
    socket.write(encodeJsonFrame(Op.LOGIN, 1, { token }));
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  }
  const batch = Buffer.concat(
    Array.from({ length: INFLIGHT }, (_, i) => encodeFrame(Op.HEARTBEAT, i + 2)),
  );
  let bytes = 0;
  let carry = 0;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    carry += chunk.length;
    const replies = Math.floor(carry / HEADER_BYTES);
    carry -= replies * HEADER_BYTES;
    if (replies > 0) socket.write(batch.subarray(0, replies * HEADER_BYTES));
  });
  return { socket, count: () => bytes / HEADER_BYTES, start: () => socket.write(batch) };
}

async function measure(
  target: Target,
  port: number,
): Promise<{ fps: number; cpuUsPerFrame: number }> {
  const child = target.start(port);
  try {
    await waitForPort(port);
    const loads = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) => openLoad(port, target.login, `bench-${i}`)),
    );
    loads.forEach((l) => l.start());
    await new Promise((r) => setTimeout(r, 1000)); // warm-up: JIT and socket buffers
    const c0 = loads.reduce((s, l) => s + l.count(), 0);
    const cpu0 = cpuMicros(child.pid!);
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const c1 = loads.reduce((s, l) => s + l.count(), 0);
    const cpu1 = cpuMicros(child.pid!);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    loads.forEach((l) => l.socket.destroy());
    const frames = c1 - c0;
    if (process.env.BENCH_DEBUG) console.log({ cpuSeconds: (cpu1 - cpu0) / 1e6, seconds, frames });
    return { fps: frames / seconds, cpuUsPerFrame: (cpu1 - cpu0) / frames };
  } finally {
    await stopServer(child);
  }
}

async function main() {
  pinGenerator();
  console.log(
    `hot path: ${CONNECTIONS} connections × ${INFLIGHT} in flight, ${SECONDS}s × ${ROUNDS} rounds, ` +
      `${PINNED ? 'server on CPU 1, generator on CPU 0' : 'unpinned (one CPU)'}; ${machine()}`,
  );
  const chosen = targets.filter((t) => !args.only || t.name.includes(args.only));
  const results = new Map<string, { fps: number[]; cpu: number[]; genCpu: number[] }>();
  let port = 7490;
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of chosen) {
      const gen0 = process.cpuUsage();
      const r = await measure(target, port++);
      const gen = process.cpuUsage(gen0);
      const entry = results.get(target.name) ?? { fps: [], cpu: [], genCpu: [] };
      entry.fps.push(r.fps);
      entry.cpu.push(r.cpuUsPerFrame);
      entry.genCpu.push((gen.user + gen.system) / 1e6 / (SECONDS + 1));
      results.set(target.name, entry);
      console.log(
        `  round ${round + 1} ${target.name}: ${Math.round(r.fps)} frames/s, ${r.cpuUsPerFrame.toFixed(2)} µs CPU/frame`,
      );
    }
  }
  console.log('\n| server | frames/s (median) | server CPU µs/frame | generator CPU (cores) |');
  console.log('|---|---|---|---|');
  for (const [name, r] of results) {
    console.log(
      `| ${name} | ${Math.round(median(r.fps))} | ${median(r.cpu).toFixed(2)} | ${median(r.genCpu).toFixed(2)} |`,
    );
  }
  const bare = results.get('bare node:net');
  const ll = results.get('longlink');
  if (bare && ll) {
    console.log(
      `\nlonglink / bare: ${(median(ll.fps) / median(bare.fps)).toFixed(2)} of the throughput`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
