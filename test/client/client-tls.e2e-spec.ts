import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestGateway, startGateway } from '../support/test-gateway';
import { ClientPool, collectMessages, eventually, freePort } from './support/client-harness';
import { CliProcess, runCli } from './support/cli-process';

/** The CLI specs spawn `longlink` processes (tsx compiles on start: about half a second each). */
jest.setTimeout(30_000);

describe('TLS', () => {
  let dir: string;
  let certFile: string;
  let ca: Buffer;
  let gw: TestGateway;
  const pool = new ClientPool(() => gw);
  const running: CliProcess[] = [];

  beforeAll(async () => {
    // A self-signed certificate for localhost and 127.0.0.1, valid for a day.
    dir = mkdtempSync(join(tmpdir(), 'longlink-tls-'));
    certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-days',
        '1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(certFile);
    gw = await startGateway({ server: { tls: { certFile, keyFile } } });
  });
  afterEach(async () => {
    for (const cli of running.splice(0)) cli.kill();
    await pool.cleanup();
  });
  afterAll(async () => {
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('in the SDK', () => {
    it('logs in, sends and receives over TLS when it trusts the certificate (ca)', async () => {
      const bob = pool.create('tls-bob', { tls: { ca } });
      const seen = collectMessages(bob);
      await expect(bob.connect()).resolves.toMatchObject({ uid: 'tls-bob' });
      const alice = await pool.connected('tls-alice', { tls: { ca, servername: 'localhost' } });
      await expect(alice.send('tls-bob', { text: 'over tls' })).resolves.toEqual(
        expect.any(String),
      );
      await eventually(() => seen.length === 1, 'message over TLS');
      expect(seen[0]).toMatchObject({ from: 'tls-alice', content: { text: 'over tls' } });
    });

    it('refuses a certificate it cannot verify with code tls and a one-line reason', async () => {
      const untrusted = pool.create('tls-nobody', { tls: true, reconnect: false });
      const error: unknown = await untrusted.connect().catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'tls',
        message: 'tls: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)',
        cause: expect.objectContaining({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      });
      expect(untrusted.state).toBe('closed');

      const wrongName = pool.create('tls-nobody', { tls: { ca, servername: 'other.example' } });
      await expect(wrongName.connect()).rejects.toMatchObject({
        code: 'tls',
        message: expect.stringMatching(
          /^tls: .*other\.example.* \(ERR_TLS_CERT_ALTNAME_INVALID\)$/,
        ),
      });
    });

    it('tells a plain-TCP gateway apart from a bad certificate, and a closed port from both', async () => {
      const plain = await startGateway();
      try {
        const client = pool.create('tls-nobody', { port: plain.port, tls: { ca } });
        await expect(client.connect()).rejects.toMatchObject({
          code: 'tls',
          message: 'tls: the server does not speak TLS (ERR_SSL_WRONG_VERSION_NUMBER)',
        });
      } finally {
        await plain.close();
      }
      const port = await freePort();
      const nowhere = pool.create('tls-nobody', { port, tls: { ca } });
      await expect(nowhere.connect()).rejects.toMatchObject({
        code: 'cannot-connect',
        message: `cannot connect to 127.0.0.1:${port} (connection refused)`,
      });
    });
  });

  describe('in the CLI', () => {
    const server = () => `127.0.0.1:${gw.port}`;

    it('send and listen talk over TLS with --ca', async () => {
      const listen = new CliProcess([
        'listen',
        '--as',
        'tls-cli-bob',
        '--count',
        '1',
        '--timeout',
        '10',
        '--ca',
        certFile,
        '--server',
        server(),
      ]);
      running.push(listen);
      await listen.waitFor('stderr', /listening as tls-cli-bob/);
      const sent = await runCli([
        'send',
        '--as',
        'tls-cli-alice',
        '--to',
        'tls-cli-bob',
        '--text',
        'hi over tls',
        '--ca',
        certFile,
        '--server',
        server(),
      ]);
      expect(sent).toMatchObject({ code: 0, stderr: '' });
      expect(await listen.exitCode()).toBe(0);
      expect(listen.stdout).toMatch(/^#1 \d\d:\d\d:\d\d tls-cli-alice: hi over tls\n$/);
    });

    it('reports an untrusted certificate, an unreadable --ca, or a missing --tls in one line', async () => {
      const send = ['send', '--as', 'a', '--to', 'b', '--text', 'x', '--server', server()];
      const untrusted = await runCli([...send, '--tls']);
      expect(untrusted).toEqual({
        code: 1,
        stdout: '',
        stderr: 'error: tls: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)\n',
      });
      const missing = join(dir, 'missing.pem');
      const unreadable = await runCli([...send, '--ca', missing]);
      expect(unreadable).toEqual({
        code: 1,
        stdout: '',
        stderr: `error: cannot read --ca ${missing} (ENOENT)\n`,
      });
      const plain = await runCli(send);
      expect(plain).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'error: disconnected (the connection closed during the login; if the gateway uses TLS, add --tls or --ca FILE)\n',
      });
    });
  });
});
