import type { LonglinkClient } from '../../src/client/longlink.client';
import { LonglinkClientError } from '../../src/client/longlink-client.error';
import { ErrorCode } from '../../src/transport/error-codes';
import { TestGateway, startGateway } from '../support/test-gateway';
import { ClientPool, eventually } from './support/client-harness';
import { CliProcess, runCli } from './support/cli-process';

/** The CLI cases spawn `longlink` processes (tsx compiles on start). */
jest.setTimeout(30_000);

/** `state` (and a failure's code) of every outbox event of `client`, in order. */
function outboxLog(client: LonglinkClient): string[] {
  const log: string[] = [];
  client.on('outbox', (event) => {
    if (event.state === 'failed') log.push(`failed ${event.error.code}`);
    else if (event.state === 'sent') log.push(`sent ${event.attempt}`);
    else if (event.state === 'acknowledged') log.push('acknowledged');
  });
  return log;
}

describe('the SDK and the CLI against message quotas', () => {
  let gw: TestGateway;
  let server: string;
  const pool = new ClientPool(() => gw);
  const running: CliProcess[] = [];

  beforeAll(async () => {
    gw = await startGateway({
      messaging: { maxContentBytes: 20, maxInboxMessages: 1, maxSenderMessagesPerDay: 3 },
    });
    server = `127.0.0.1:${gw.port}`;
  });
  afterEach(async () => {
    for (const cli of running.splice(0)) cli.kill();
    await pool.cleanup();
  });
  afterAll(() => gw.close());

  /** send()'s rejection, once; fails the test if it was acknowledged. */
  const failure = (p: Promise<string>) =>
    p.then(
      () => {
        throw new Error('acknowledged');
      },
      (err: unknown) => err as LonglinkClientError,
    );

  it('fails content-too-large and inbox-full for good: one SEND, event failed, no retry', async () => {
    const alice = await pool.connected('sdk-alice');
    const log = outboxLog(alice);
    const tooBig = await failure(alice.send('sdk-bob', 'x'.repeat(30)));
    expect(tooBig).toBeInstanceOf(LonglinkClientError);
    expect(tooBig).toMatchObject({ code: ErrorCode.ContentTooLarge, fromServer: true });
    await alice.send('sdk-bob', 'fits');
    const full = await failure(alice.send('sdk-bob', 'no room'));
    expect(full.code).toBe(ErrorCode.InboxFull);
    // Nothing is sent again later, and the client stays connected.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(log).toEqual([
      'sent 1',
      `failed ${ErrorCode.ContentTooLarge}`,
      'sent 1',
      'acknowledged',
      'sent 1',
      `failed ${ErrorCode.InboxFull}`,
    ]);
    expect([alice.pendingMessages, alice.state]).toEqual([0, 'ready']);
  });

  it('fails daily-quota-exceeded for good, with the retryAfterMs of the ERROR', async () => {
    const carol = await pool.connected('sdk-carol');
    const log = outboxLog(carol);
    for (const to of ['r1', 'r2', 'r3']) await carol.send(to, 'hi');
    const refused = await failure(carol.send('r4', 'hi'));
    expect(refused).toMatchObject({ code: ErrorCode.DailyQuotaExceeded, fromServer: true });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(24 * 3600 * 1000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(log.slice(-2)).toEqual(['sent 1', `failed ${ErrorCode.DailyQuotaExceeded}`]);
    expect(carol.pendingMessages).toBe(0);
  });

  it('longlink send prints the code and the limit in one line and exits 1', async () => {
    const big = await runCli([
      'send',
      '--as',
      'cli-q1',
      '--to',
      'x',
      '--text',
      'y'.repeat(30),
      '--server',
      server,
    ]);
    expect(big).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'error: content-too-large (content too large: messaging.maxContentBytes = 20 bytes of content; not stored)\n',
    });
    const full = await runCli([
      'send',
      '--as',
      'cli-q2',
      '--to',
      'cli-q2-rx',
      '--text',
      'hi',
      '--count',
      '4',
      '--server',
      server,
    ]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(
      /^error: inbox-full \(recipient inbox full: messaging\.maxInboxMessages = 1 unacknowledged messages in the recipient inbox; not stored\); 3 of 4 messages not acknowledged$/m,
    );
  });

  it('longlink chat shows a refused line once, with its code, and goes on', async () => {
    const chat = new CliProcess([
      'chat',
      '--as',
      'chat-q',
      '--to',
      'chat-q-rx',
      '--server',
      server,
    ]);
    running.push(chat);
    await chat.waitFor('stderr', /connected to .* as chat-q/);
    chat.write(`${'z'.repeat(30)}\nshort\nthird\n`);
    await chat.waitFor('stderr', /not sent: inbox-full .*: third/);
    expect(chat.stderr).toMatch(
      /\* not sent: content-too-large \(content too large: messaging\.maxContentBytes = 20 bytes of content; not stored\): z{30}\n/,
    );
    await eventually(() => /not sent/.test(chat.stderr), 'refusals shown');
    expect(chat.stderr.match(/not sent/g)).toHaveLength(2);
    chat.endInput();
    expect(await chat.exitCode()).toBe(0);
  });
});
