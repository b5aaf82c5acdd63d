import { LonglinkClient } from '../../src/client/longlink.client';
import { TestGateway, startGateway } from '../support/test-gateway';
import { ClientPool, collectMessages, eventually, freePort } from './support/client-harness';
import { CliProcess, runCli } from './support/cli-process';

/** Each spec spawns `longlink` processes (tsx compiles on start: about half a second each). */
jest.setTimeout(30_000);

describe('the longlink CLI', () => {
  let gw: TestGateway;
  let server: string;
  const pool = new ClientPool(() => gw);
  const running: CliProcess[] = [];

  function start(args: string[]): CliProcess {
    const cli = new CliProcess([...args, '--server', server]);
    running.push(cli);
    return cli;
  }

  beforeAll(async () => {
    gw = await startGateway();
    server = `127.0.0.1:${gw.port}`;
  });
  afterEach(async () => {
    for (const cli of running.splice(0)) cli.kill();
    await pool.cleanup();
  });
  afterAll(() => gw.close());

  it('send prints each msgId once acknowledged; listen --json prints and acks them, exiting 0 at --count', async () => {
    const listen = start([
      'listen',
      '--as',
      'cli-bob',
      '--count',
      '2',
      '--timeout',
      '10',
      '--json',
    ]);
    await listen.waitFor('stderr', /listening as cli-bob/);
    const sent = await runCli([
      'send',
      '--as',
      'cli-alice',
      '--to',
      'cli-bob',
      '--text',
      'hi',
      '--count',
      '2',
      '--server',
      server,
    ]);
    expect(sent).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(/^sent 2 of 2 messages in/),
    });
    const msgIds = sent.stdout.trim().split('\n');
    expect(msgIds).toHaveLength(2);

    expect(await listen.exitCode()).toBe(0);
    const lines = listen.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      {
        msgId: msgIds[0],
        seq: 1,
        from: 'cli-alice',
        content: { text: 'hi #1' },
        ts: expect.any(Number),
      },
      {
        msgId: msgIds[1],
        seq: 2,
        from: 'cli-alice',
        content: { text: 'hi #2' },
        ts: expect.any(Number),
      },
    ]);
    // Acknowledged before exiting: a later reader of the inbox does not get them again.
    const later = pool.create('cli-bob');
    const seen = collectMessages(later);
    await later.connect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([]);
  });

  it('listen exits 1 when its timeout comes before --count', async () => {
    const result = await runCli([
      'listen',
      '--as',
      'lonely',
      '--count',
      '1',
      '--timeout',
      '0.3',
      '--server',
      server,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: timeout: 0 of 1 messages in 0.3 s$/m);
  });

  it('chat sends each typed line and shows what arrives; end of input leaves cleanly', async () => {
    const bob = pool.create('chat-bob');
    const seen = collectMessages(bob);
    await bob.connect();
    const chat = start(['chat', '--as', 'chat-alice', '--to', 'chat-bob']);
    await chat.waitFor('stderr', /connected to .* as chat-alice; chatting with chat-bob/);
    chat.write('hello bob\n\nhow are you?\n');
    await eventually(() => seen.length === 2, 'bob got both lines', 5000);
    expect(seen.map((m) => [m.from, m.content])).toEqual([
      ['chat-alice', { text: 'hello bob' }],
      ['chat-alice', { text: 'how are you?' }],
    ]);
    await bob.send('chat-alice', { text: 'fine, thanks' });
    await chat.waitFor('stdout', /^chat-bob: fine, thanks$/m);
    chat.endInput();
    expect(await chat.exitCode()).toBe(0);
    expect(chat.stderr).toMatch(/\* bye\n$/);
  });

  it('chat shows a relogin kick and exits 1 instead of fighting for the session', async () => {
    const chat = start(['chat', '--as', 'chat-twice', '--to', 'someone']);
    await chat.waitFor('stderr', /connected to/);
    await pool.connected('chat-twice');
    expect(await chat.exitCode()).toBe(1);
    expect(chat.stderr).toMatch(
      /\* kicked: relogin \(logged in from another connection\); not reconnecting/,
    );
    expect(chat.stderr).toMatch(/^error: relogin \(logged in from another connection\)$/m);
  });

  it('Ctrl-C leaves chat cleanly', async () => {
    const chat = start(['chat', '--as', 'chat-leaver', '--to', 'someone']);
    await chat.waitFor('stderr', /connected to/);
    chat.interrupt();
    expect(await chat.exitCode()).toBe(0);
  });

  it('reports a server that is not there in one line, without a stack trace', async () => {
    const port = await freePort();
    const result = await runCli([
      'send',
      '--as',
      'a',
      '--to',
      'b',
      '--text',
      'x',
      '--server',
      `127.0.0.1:${port}`,
    ]);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: cannot connect to 127.0.0.1:${port} (connection refused)\n`,
    });
  });

  it("reports the server's error code in one line", async () => {
    const refused = await runCli([
      'send',
      '--token',
      'bogus',
      '--to',
      'b',
      '--text',
      'x',
      '--server',
      server,
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: invalid-token \(token rejected \(.+\)\)\n$/);
    const bad = await runCli(['send', '--as', 'a', '--to', '', '--text', 'x', '--server', server]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(
      'error: bad-request (to: must be a non-empty string of at most 128 characters)\n',
    );
  });

  it('token prints a token the gateway accepts', async () => {
    const result = await runCli(['token', 'carol', '--ttl', '5m'], 'bin');
    expect(result.code).toBe(0);
    const client = new LonglinkClient({
      port: gw.port,
      token: result.stdout.trim(),
      reconnect: false,
    });
    await expect(client.connect()).resolves.toMatchObject({ uid: 'carol' });
    await client.close();
  });
});
