/**
 * End-to-end messaging throughput: P sender→receiver pairs, 16-byte content,
 * each sender keeping W SENDs in flight; receivers ack every push (cumulative
 * PUSH_ACK per read). Counts messages delivered and acked end to end per
 * second, with the memory and the SQLite store, and the server CPU per message.
 *   npm run bench:messaging -- [--pairs 4] [--window 64] [--seconds 5] [--rounds 3]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mintToken } from '../src/auth/token.factory';
import { DEV_JWT_SECRET } from '../src/config/config.constants';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { MsgOp } from '../src/messaging/messaging.ops';
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
    pairs: { type: 'string', default: '4' },
    window: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    stores: { type: 'string', default: 'memory,sqlite' },
    profile: { type: 'boolean', default: false },
  },
});
const PAIRS = Number(args.pairs);
const WINDOW = Number(args.window);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONTENT = '"0123456789abcdef"'; // 16 bytes of content

interface Peer {
  socket: Socket;
  frames: FrameDecoder;
}

/** Connects and logs in; `onFrame` sees every frame after the LOGIN reply. */
async function peer(
  port: number,
  uid: string,
  onFrame: (op: number, body: Buffer) => void,
): Promise<Peer> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise<void>(
    (resolve, reject) => (socket.once('connect', resolve), socket.once('error', reject)),
  );
  let loggedIn: () => void = () => undefined;
  const ready = new Promise<void>((r) => (loggedIn = r));
  const frames = new FrameDecoder(
    {
      onFrame: (op, seq, body) =>
        seq === 1 && op === (Op.LOGIN | 0x8000_0000) >>> 0 ? loggedIn() : onFrame(op, body),
      onFrameError: (err) => {
        throw err;
      },
    },
    1 << 24,
  );
  socket.on('data', (chunk) => frames.push(chunk));
  socket.write(
    encodeJsonFrame(Op.LOGIN, 1, { token: await mintToken(uid, { secret: DEV_JWT_SECRET }) }),
  );
  await ready;
  return { socket, frames };
}

async function runPair(port: number, i: number, round: string) {
  const to = `bench-rx-${round}-${i}`;
  let delivered = 0;
  let acked = 0;
  // The receiver's inbox is fresh, so its seqs are 1, 2, 3…: a count is a cumulative ack.
  const rx = await peer(port, to, (op) => {
    if (op === MsgOp.MSG) delivered++;
  });
  rx.socket.on('data', () => {
    if (delivered > 0) rx.socket.write(encodeJsonFrame(MsgOp.PUSH_ACK, 0, { upTo: delivered }));
  });
  let next = 0;
  const sendOne = () =>
    encodeFrame(
      MsgOp.SEND,
      2 + (next % 1_000_000),
      `{"to":"${to}","clientMsgId":"${round}-${next++}","content":${CONTENT}}`,
    );
  const tx = await peer(port, `bench-tx-${round}-${i}`, (op) => {
    if (op === (MsgOp.SEND | 0x8000_0000) >>> 0) acked++;
  });
  let answered = 0;
  tx.socket.on('data', () => {
    const fresh = acked - answered;
    answered = acked;
    if (fresh > 0) tx.socket.write(Buffer.concat(Array.from({ length: fresh }, sendOne)));
  });
  tx.socket.write(Buffer.concat(Array.from({ length: WINDOW }, sendOne)));
  return {
    delivered: () => delivered,
    acked: () => acked,
    close: () => (rx.socket.destroy(), tx.socket.destroy()),
  };
}

async function measure(store: string, port: number, round: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'longlink-bench-'));
  const configFile = join(dataDir, 'bench.yaml');
  writeFileSync(
    configFile,
    readFileSync(join(__dirname, 'messaging.config.yaml'), 'utf8').replace(
      'messaging:\n',
      `messaging:\n  store: ${store}\n`,
    ),
  );
  const profile = args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(__dirname, 'results')] : [];
  const child = launchServer([...profile, join(__dirname, '..', 'dist/main.js')], {
    LONGLINK_PORT: String(port),
    LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
    LONGLINK_CONFIG: configFile,
    LONGLINK_DATA_DIR: dataDir,
  });
  try {
    await waitForPort(port);
    const pairs = await Promise.all(
      Array.from({ length: PAIRS }, (_, i) => runPair(port, i, round)),
    );
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const count = () => pairs.reduce((s, p) => s + p.delivered(), 0);
    const d0 = count();
    const cpu0 = cpuMicros(child.pid!);
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const d1 = count();
    const cpu1 = cpuMicros(child.pid!);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    pairs.forEach((p) => p.close());
    return { mps: (d1 - d0) / seconds, cpuUs: (cpu1 - cpu0) / (d1 - d0) };
  } finally {
    await stopServer(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  pinGenerator();
  const stores = args.stores!.split(',');
  console.log(
    `messaging: ${PAIRS} pairs × ${WINDOW} in flight, 16-byte content, ${SECONDS}s × ${ROUNDS} rounds, ` +
      `${PINNED ? 'server on CPU 1, generator on CPU 0' : 'unpinned'}; ${machine()}`,
  );
  const results = new Map<string, { mps: number[]; cpu: number[] }>();
  let port = 7520;
  for (let round = 0; round < ROUNDS; round++) {
    for (const store of stores) {
      const r = await measure(store, port++, `r${round}`);
      const entry = results.get(store) ?? { mps: [], cpu: [] };
      entry.mps.push(r.mps);
      entry.cpu.push(r.cpuUs);
      results.set(store, entry);
      console.log(
        `  round ${round + 1} ${store}: ${Math.round(r.mps)} msgs/s, ${r.cpuUs.toFixed(1)} µs CPU/msg`,
      );
    }
  }
  console.log('\n| store | delivered + acked msgs/s (median) | server CPU µs/msg |');
  console.log('|---|---|---|');
  for (const [store, r] of results) {
    console.log(`| ${store} | ${Math.round(median(r.mps))} | ${median(r.cpu).toFixed(1)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
