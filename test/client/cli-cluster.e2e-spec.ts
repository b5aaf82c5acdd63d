import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '../../src/auth/token.factory';
import { ClusterSupervisor, SupervisedWorker } from '../../src/cli/cluster.supervisor';
import { Op, REPLY_FLAG } from '../../src/transport/ops';
import { freePort } from '../support/free-port';
import { TestClient } from '../support/test-client';
import { sleep, until } from '../support/wait';

/**
 * `longlink cluster --workers N` (needs a build: `npx nest build`): the built CLI (bin/longlink.js
 * runs dist/) forks N gateways on one port; a killed worker is restarted; SIGTERM drains them all.
 */
jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'longlink.js');
const SECRET = 'cli-cluster-spec-secret-0123456789abcdef';
const DRAIN_TIMEOUT_MS = 2000;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

/** A running `longlink cluster`, its stderr (the primary's lines) collected. */
class ClusterProcess {
  stderr = '';
  hasExited = false;
  readonly exited: Promise<number | null>;
  readonly child: ChildProcessWithoutNullStreams;

  constructor(args: string[], env: Record<string, string>) {
    const clean: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('LONGLINK_')) clean[key] = value;
    }
    this.child = spawn(process.execPath, [BIN, 'cluster', ...args], {
      cwd: ROOT,
      env: { ...clean, LONGLINK_LOG_LEVEL: 'warn', ...env },
    });
    this.child.stdout.resume();
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        this.hasExited = true;
        resolve(code);
      }),
    );
  }

  /** pid of each `worker N (pid P) listening` line, in order. */
  get listening(): { n: number; pid: number }[] {
    return [...this.stderr.matchAll(/worker (\d+) \(pid (\d+)\) listening/g)].map((m) => ({
      n: Number(m[1]),
      pid: Number(m[2]),
    }));
  }

  async waitFor(pattern: RegExp | (() => boolean), what: string, timeoutMs = 20_000) {
    const matches = typeof pattern === 'function' ? pattern : () => pattern.test(this.stderr);
    try {
      // Fails at once if the primary has exited: it would never print what is awaited.
      await until(() => matches() || this.hasExited, what, timeoutMs);
      if (!matches()) throw new Error(`the primary exited while waiting for ${what}`);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the primary printed:\n${this.stderr}`);
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function loggedIn(port: number, uid: string): Promise<TestClient> {
  const client = await TestClient.connect(port);
  const login = await client.login(await mintToken(uid, { secret: SECRET }));
  expect(login.op).toBe(LOGIN_REPLY);
  return client;
}

async function heartbeat(client: TestClient): Promise<void> {
  expect((await client.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
}

describe('longlink cluster', () => {
  const dirs: string[] = [];
  const running: ClusterProcess[] = [];
  const clients: TestClient[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'longlink-cli-cluster-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    for (const cluster of running.splice(0)) {
      for (const { pid } of cluster.listening) if (alive(pid)) process.kill(pid, 'SIGKILL');
      cluster.child.kill('SIGKILL');
    }
  });
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('runs 2 workers on one port, restarts one killed with SIGKILL, and drains all on SIGTERM', async () => {
    const dir = tempDir();
    const port = await freePort();
    const configFile = join(dir, 'cluster.yaml');
    writeFileSync(
      configFile,
      [
        'server:',
        `  drainTimeoutMs: ${DRAIN_TIMEOUT_MS}`,
        '  reconnectAfterMs: 100',
        '  reconnectJitterMs: 100',
        'messaging:',
        '  store: sqlite',
        '',
      ].join('\n'),
    );
    const cluster = new ClusterProcess(['--workers', '2'], {
      LONGLINK_CONFIG: configFile,
      LONGLINK_PORT: String(port),
      LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
      LONGLINK_DATA_DIR: join(dir, 'data'),
      LONGLINK_JWT_SECRET: SECRET,
    });
    running.push(cluster);
    await cluster.waitFor(() => cluster.listening.length === 2, 'two workers listening');
    expect(cluster.stderr).toMatch(/warning: no Redis/);
    const pids = cluster.listening.map((w) => w.pid);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(cluster.child.pid);
    for (const pid of pids) expect(alive(pid)).toBe(true);

    // Connections alternate between the workers (node:cluster's round robin).
    const first: TestClient[] = [];
    for (let i = 0; i < 6; i++) first.push(await loggedIn(port, `cc-${i}`));
    clients.push(...first);
    for (const client of first) await heartbeat(client);

    // SIGKILL worker 1: its clients lose their connection, worker 2's keep theirs.
    const [victim, survivor] = cluster.listening;
    process.kill(victim!.pid, 'SIGKILL');
    await cluster.waitFor(
      new RegExp(
        `worker ${victim!.n} \\(pid ${victim!.pid}\\) exited unexpectedly with signal SIGKILL; restarting`,
      ),
      'the primary to notice the dead worker',
    );
    await until(() => first.some((c) => c.isClosed), 'the dead worker’s clients to be cut', 5000);
    await sleep(100);
    const kept = first.filter((c) => !c.isClosed);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(first.length);
    for (const client of kept) await heartbeat(client);
    // The port keeps answering while the worker is away (the other one takes everything).
    const meanwhile = await loggedIn(port, 'cc-meanwhile');
    clients.push(meanwhile);
    await heartbeat(meanwhile);

    await cluster.waitFor(() => cluster.listening.length === 3, 'the worker to be restarted');
    const restarted = cluster.listening[2]!;
    expect(restarted.n).toBe(victim!.n);
    expect(restarted.pid).not.toBe(victim!.pid);
    expect(alive(restarted.pid)).toBe(true);
    const after: TestClient[] = [];
    for (let i = 0; i < 4; i++) after.push(await loggedIn(port, `cc-after-${i}`));
    clients.push(...after);
    for (const client of after) await heartbeat(client);

    // SIGTERM to the primary: every worker drains (RECONNECT to its clients) and exits, then it.
    const open = [...kept, meanwhile, ...after];
    const stoppedAt = Date.now();
    cluster.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      cluster.exited,
      new Promise<'still running'>((resolve) => {
        timer = setTimeout(() => resolve('still running'), DRAIN_TIMEOUT_MS + 5000 + 2000);
      }),
    ]);
    clearTimeout(timer);
    const tookMs = Date.now() - stoppedAt;
    expect({ code, tookMs: tookMs < DRAIN_TIMEOUT_MS + 5000 }).toEqual({ code: 0, tookMs: true });
    expect(cluster.stderr).toMatch(/SIGTERM: stopping 2 workers/);
    expect(cluster.stderr).toMatch(/all workers stopped/);
    for (const pid of [survivor!.pid, restarted.pid]) expect(alive(pid)).toBe(false);
    for (const client of open) {
      await client.waitClosed(2000);
      expect(client.frames.some((f) => f.op === Op.RECONNECT)).toBe(true);
    }
  });

  it('refuses the memory store with more than one worker: exit 78, naming the reason', async () => {
    const dir = tempDir();
    const configFile = join(dir, 'memory.yaml');
    writeFileSync(configFile, 'messaging:\n  store: memory\n');
    const cluster = new ClusterProcess(['--workers', '2'], {
      LONGLINK_CONFIG: configFile,
      LONGLINK_PORT: String(await freePort()),
      LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
    });
    running.push(cluster);
    expect(await cluster.exited).toBe(78);
    expect(cluster.stderr).toMatch(
      /^longlink: invalid config: messaging\.store: memory cannot be shared by 2 workers/m,
    );
    expect(cluster.listening).toEqual([]);
  });
});

/** The supervisor's restart policy, with stand-in workers. */
describe('ClusterSupervisor', () => {
  class FakeWorker implements SupervisedWorker {
    static next = 1000;
    readonly pid = FakeWorker.next++;
    stopped = false;
    killed = false;
    private listening: (() => void)[] = [];
    private exits: ((code: number | null, signal: string | null) => void)[] = [];
    onListening(listener: () => void): void {
      this.listening.push(listener);
    }
    onExit(listener: (code: number | null, signal: string | null) => void): void {
      this.exits.push(listener);
    }
    stop(): void {
      this.stopped = true;
    }
    hangUp(): void {}
    kill(): void {
      this.killed = true;
    }
    listen(): void {
      for (const listener of this.listening) listener();
    }
    exit(code: number | null, signal: string | null = null): void {
      for (const listener of this.exits) listener(code, signal);
    }
  }

  function supervisor(workers: number, stopTimeoutMs = 5000) {
    const forked: FakeWorker[] = [];
    const log: string[] = [];
    const sup = new ClusterSupervisor({
      workers,
      fork: () => {
        const worker = new FakeWorker();
        forked.push(worker);
        return worker;
      },
      log: (line) => log.push(line),
      stopTimeoutMs,
      restartDelayMs: () => 1,
    });
    sup.start();
    return { sup, forked, log };
  }

  it('starts the others once the first listens, and restarts at most 5 times a minute', async () => {
    const { sup, forked, log } = supervisor(2);
    expect(forked).toHaveLength(1);
    forked[0]!.listen();
    expect(forked).toHaveLength(2);
    forked[1]!.listen();
    for (let i = 0; i < 5; i++) {
      forked.at(-1)!.exit(null, 'SIGKILL');
      await until(() => forked.length === 3 + i, `restart ${i + 1}`);
      forked.at(-1)!.listen();
    }
    forked.at(-1)!.exit(1);
    expect(log.at(-1)).toMatch(/5 restarts in the last 60 s already: giving up/);
    expect(forked[0]!.stopped).toBe(true);
    forked[0]!.exit(0);
    expect(await sup.done).toBe(1);
  });

  it('gives up with 78 when a worker fails on its configuration before listening', async () => {
    const { sup, forked } = supervisor(2);
    forked[0]!.exit(78);
    expect(await sup.done).toBe(78);
    expect(forked).toHaveLength(1);
  });

  it('stop drains every worker (0 when all exit 0); a second stop kills them', async () => {
    const clean = supervisor(2);
    clean.forked[0]!.listen();
    clean.sup.stop('SIGTERM');
    expect(clean.forked.map((w) => w.stopped)).toEqual([true, true]);
    clean.forked[0]!.exit(0);
    clean.forked[1]!.exit(0);
    expect(await clean.sup.done).toBe(0);

    const failed = supervisor(1);
    failed.forked[0]!.listen();
    failed.sup.stop('SIGTERM');
    failed.forked[0]!.exit(1);
    expect(await failed.sup.done).toBe(1);

    const forced = supervisor(2);
    forced.forked[0]!.listen();
    forced.sup.stop('SIGINT');
    forced.sup.stop('SIGINT');
    expect(forced.forked.map((w) => w.killed)).toEqual([true, true]);
    expect(await forced.sup.done).toBe(1);

    const stuck = supervisor(1, 50);
    stuck.forked[0]!.listen();
    stuck.sup.stop('SIGTERM');
    expect(await stuck.sup.done).toBe(1);
    expect(stuck.forked[0]!.killed).toBe(true);
  });
});
