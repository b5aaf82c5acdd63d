import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import {
  DocumentedCodes,
  FuzzReport,
  HeartbeatProbe,
  LatencyStats,
  formatFuzzReport,
  formatStats,
  parseDocumentedCodes,
  runFuzz,
} from './support/fuzzer';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep } from './support/wait';

/**
 * A short run of the protocol fuzzer (test/support/fuzzer.ts; the long one is
 * `npm run fuzz -- --frames 10000000`) against an in-process gateway. Replay a
 * failure with `FUZZ_SEED=<seed> npx jest test/fuzz`; FUZZ_FRAMES changes the length.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20251128) >>> 0;
const FRAMES = Number(process.env.FUZZ_FRAMES ?? 100_000);
const CONNECTIONS = 32;
/** The run stops early on a slow or loaded machine, so the spec stays short; it says so. */
const TIME_LIMIT_MS = Number(process.env.FUZZ_TIME_LIMIT_MS ?? 13_000);
/** Heap the gateway may keep after the run and a full GC (stored messages included). */
const MAX_HEAP_GROWTH_BYTES = 32 * 1024 * 1024;
/** Generous: a shared 2-core machine runs the fuzzer, the gateway and the probe in one process. */
const MAX_BYSTANDER_P99_AFTER_MS = 100;

/** A full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe(`protocol fuzzing: ${FRAMES} random and mutated frames (seed ${SEED})`, () => {
  let gw: TestGateway;
  let probe: HeartbeatProbe;
  let documented: DocumentedCodes;
  let report: FuzzReport;
  let baseline: LatencyStats;
  let during: LatencyStats;
  let after: LatencyStats;
  let heapBefore: number;
  let heapAfter: number;

  beforeAll(async () => {
    documented = parseDocumentedCodes(
      readFileSync(join(__dirname, '..', 'docs', 'PROTOCOL.md'), 'utf8'),
    );
    gw = await startGateway({
      // Rate limits lifted so the frames reach the decoder, parsers and handlers instead of
      // being answered rate-limited; the limits have their own specs (abuse-*.e2e-spec.ts).
      rateLimit: { maxPackets: 10_000_000, kickPackets: 10_000_000 },
    });
    probe = await HeartbeatProbe.open({ port: gw.port, token: await gw.token('fuzz-bystander') });
    // Warm-up, so JIT and pools are not counted as growth.
    await runFuzz({
      port: gw.port,
      frames: 2000,
      connections: 8,
      seed: SEED ^ 0xffff,
      jwtSecret: gw.config.auth.jwtSecret,
      maxFrameBytes: gw.config.server.maxFrameBytes,
      maxPreLoginFrameBytes: gw.config.server.maxPreLoginFrameBytes,
    });
    await until(() => gw.server.connectionCount === 1, 'warm-up connections to close');
    baseline = await probe.measure(150);
    collectGarbage();
    heapBefore = process.memoryUsage().heapUsed;

    probe.startBackground(10);
    report = await runFuzz({
      port: gw.port,
      frames: FRAMES,
      connections: CONNECTIONS,
      seed: SEED,
      jwtSecret: gw.config.auth.jwtSecret,
      maxFrameBytes: gw.config.server.maxFrameBytes,
      maxPreLoginFrameBytes: gw.config.server.maxPreLoginFrameBytes,
      documented,
      timeLimitMs: TIME_LIMIT_MS,
    });
    during = await probe.stopBackground();
    console.log(formatFuzzReport(report));

    await until(() => gw.server.connectionCount === 1, 'fuzz connections to close', 10000);
    after = await probe.measure(150);
    console.log(
      `bystander heartbeat RTT: baseline ${formatStats(baseline)}; during fuzzing ${formatStats(during)}; after ${formatStats(after)}`,
    );
    collectGarbage();
    heapAfter = process.memoryUsage().heapUsed;
    console.log(
      `heap used after GC: before ${(heapBefore / 1048576).toFixed(1)} MiB, after ${(heapAfter / 1048576).toFixed(1)} MiB`,
    );
  }, 120_000);

  afterAll(async () => {
    probe?.close();
    await gw?.close();
  });

  const failures = (filter: (message: string) => boolean) =>
    report.failures.filter((f) => filter(f.message)).map((f) => ({ ...f, seed: SEED }));

  it('sends every frame and keeps accepting, answering and closing as the protocol says', () => {
    // All of them, unless the time limit cut the run short on a slow machine.
    expect(report.framesSent).toBeGreaterThanOrEqual(report.timedOut ? FRAMES / 5 : FRAMES);
    expect(report.lives).toBeGreaterThan(CONNECTIONS);
    expect(report.loginsAccepted).toBeGreaterThan(0);
    // Refused connects, unanswered heartbeats, connections left open, broken headers not
    // refused, malformed server frames: none (internal-error is checked on its own below).
    expect(failures((m) => !m.includes('internal-error'))).toEqual([]);
  });

  it('answers with ERROR codes and KICK reasons that docs/PROTOCOL.md documents, only', () => {
    expect(documented.errors.size).toBeGreaterThan(10);
    expect(Object.keys(report.errors).filter((c) => !documented.errors.has(c))).toEqual([]);
    expect(Object.keys(report.kicks).filter((c) => !documented.kicks.has(c))).toEqual([]);
    // The mutations reached every layer: framing, JSON, validation, login, routing. (Broken
    // headers end a connection, so they are rare: only required of a complete run.)
    const framing = report.timedOut
      ? []
      : ['frame-too-small', 'frame-too-large', 'bad-header-length', 'unsupported-version'];
    for (const code of [
      ...framing,
      'bad-json',
      'bad-request',
      'unknown-op',
      'not-logged-in',
      'invalid-token',
      'token-expired',
    ]) {
      expect(report.errors).toHaveProperty([code]);
    }
  });

  // Deep JSON is refused by parseBody (maxJsonDepth) before pipes or JSON.stringify recurse.
  it('never answers a client frame with internal-error (every bad input is a client error)', () => {
    expect(failures((m) => m.includes('internal-error'))).toEqual([]);
  });

  it('keeps serving a logged-in bystander during and after the run, with normal latency after', async () => {
    expect(probe.missed).toBe(0);
    expect(probe.problems).toEqual([]);
    expect(during.count).toBeGreaterThan(10);
    expect(after.p99).toBeLessThan(Math.max(MAX_BYSTANDER_P99_AFTER_MS, baseline.p99 * 5));
    expect((await probe.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  });

  it('releases every connection and returns near its heap baseline after GC (no leak)', () => {
    expect(gw.server.connectionCount).toBe(1);
    expect(heapAfter - heapBefore).toBeLessThan(MAX_HEAP_GROWTH_BYTES);
  });

  it('lets no body pollute Object.prototype (__proto__ and constructor.prototype keys)', () => {
    expect(report.sentByKind['body-extra-fields']).toBeGreaterThan(0);
    expect(({} as Record<string, unknown>).fuzzPolluted).toBeUndefined();
  });
});
