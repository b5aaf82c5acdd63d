import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestGateway } from '../support/test-gateway';
import { sleep } from '../support/wait';
import {
  ClientPool,
  collectMessages,
  eventually,
  freePort,
  gatewayOn,
} from './support/client-harness';
import { CliProcess } from './support/cli-process';

/** The CLI on the SDK's pacing and outbox: a fast `send`, and a `chat` through a restart. */
describe('the longlink CLI, paced and queued', () => {
  let port: number;
  let dataDir: string;
  let gw: TestGateway;
  const pool = new ClientPool(() => gw);
  const running: CliProcess[] = [];
  // The default rate limits (200 frames per 1000 ms); the durable store, so a restarted gateway
  // still has every inbox; no advised wait at shutdown, so the chat is back within its backoff.
  const startAgain = () =>
    gatewayOn(port, {
      server: { reconnectAfterMs: 1, reconnectJitterMs: 0 },
      messaging: { store: 'sqlite', dataDir },
    });

  function start(args: string[]): CliProcess {
    const cli = new CliProcess([...args, '--server', `127.0.0.1:${port}`]);
    running.push(cli);
    return cli;
  }

  beforeEach(async () => {
    port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'longlink-cli-outbox-'));
    gw = await startAgain();
  });
  afterEach(async () => {
    for (const cli of running.splice(0)) cli.kill();
    await pool.cleanup();
    await gw.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('send --count 300 --rate 2000 paces to the announced limit; all 300 acknowledged and delivered once, in order', async () => {
    const listen = start([
      'listen',
      '--as',
      'pace-bob',
      '--count',
      '300',
      '--timeout',
      '20',
      '--json',
    ]);
    await listen.waitFor('stderr', /listening as pace-bob/);
    const send = start([
      'send',
      '--as',
      'pace-alice',
      '--to',
      'pace-bob',
      '--text',
      'burst',
      '--count',
      '300',
      '--rate',
      '2000',
    ]);
    send.endInput();
    expect(await send.exitCode(20_000)).toBe(0);
    const notes = send.stderr.split('\n').filter((line) => line.startsWith('* pacing'));
    expect(notes).toEqual(['* pacing to 180 msgs/s: the server allows 200 frames per 1000 ms']);
    expect(send.stderr).toMatch(/^sent 300 of 300 messages in /m);
    expect(send.stderr).not.toMatch(/rate-limited|error/);
    const msgIds = send.stdout.trim().split('\n');
    expect(new Set(msgIds).size).toBe(300);

    expect(await listen.exitCode(20_000)).toBe(0);
    const got = listen.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; msgId: string; content: { text: string } });
    expect(got.map((m) => m.content.text)).toEqual(
      Array.from({ length: 300 }, (_, i) => `burst #${i + 1}`),
    );
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(new Set(got.map((m) => m.msgId))).toEqual(new Set(msgIds));
  }, 40_000);

  it('chat: a line typed while the gateway restarts is shown queued, then sent, and delivered once', async () => {
    const bob = pool.create('restart-chat-bob');
    const seen = collectMessages(bob);
    await bob.connect();
    const chat = start(['chat', '--as', 'restart-chat-alice', '--to', 'restart-chat-bob']);
    await chat.waitFor('stderr', /connected to .* as restart-chat-alice/);
    chat.write('before\n');
    await eventually(() => seen.length === 1, 'bob got the first line', 5000);

    await gw.close();
    await chat.waitFor('stderr', /\* disconnected: .*; reconnecting/);
    chat.write('are you there?\n');
    await chat.waitFor('stderr', /^\* … queued: are you there\?$/m);
    await sleep(1000); // down for a while: longer than a request timeout would have allowed once
    gw = await startAgain();
    await chat.waitFor('stderr', /^\* ✓ sent: are you there\?$/m, 15_000);
    await eventually(() => seen.length === 2, 'bob got the queued line', 10_000);
    await sleep(200);
    expect(seen.map((m) => m.content)).toEqual([{ text: 'before' }, { text: 'are you there?' }]);
    expect(chat.stderr).not.toMatch(/not sent/);

    chat.endInput();
    expect(await chat.exitCode()).toBe(0);
  }, 40_000);
});
