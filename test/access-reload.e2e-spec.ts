import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken } from '../src/auth/token.factory';
import { AccessReloadService } from '../src/guards/access-reload.service';
import { LonglinkConfig } from '../src/config/longlink-config';
import { SessionService } from '../src/session/session.service';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { RawPeer } from './support/raw-peer';
import { TestGateway, startGateway } from './support/test-gateway';
import { until } from './support/wait';

/**
 * Black and white lists reload without a restart (SIGHUP, or
 * AccessReloadService.apply) and apply to existing connections: a connection
 * the new lists no longer admit, by IP or by user, gets KICK access-denied and
 * is closed; new ones are refused as usual (IP at accept, user at LOGIN).
 */

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist', 'main.js');
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

type Lists = LonglinkConfig['access'];
const lists = (l: Partial<Lists>): Lists => ({
  ipBlacklist: [],
  ipWhitelist: [],
  userBlacklist: [],
  userWhitelist: [],
  ...l,
});

/** A raw protocol client from a chosen loopback source address. */
class Client extends RawPeer {
  async heartbeatOk(): Promise<boolean> {
    return (await this.request(Op.HEARTBEAT))?.op === HEARTBEAT_REPLY;
  }

  get kick(): string | undefined {
    return this.frames.find((f) => f.op === Op.KICK)?.code;
  }

  /** Waits until the server closed it; true when it did within timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    await until(() => this.closed, 'the server to close', timeoutMs).catch(() => undefined);
    return this.closed;
  }
}

/** Refused at accept: closed without a byte, whatever the client writes. */
async function expectRefused(port: number, localAddress: string): Promise<void> {
  const c = await Client.open(port, localAddress);
  c.socket.write(encodeFrame(Op.HEARTBEAT, 1));
  expect(await c.waitClosed(2000)).toBe(true);
  expect(c.bytes).toBe(0);
}

describe('access lists reload without a restart', () => {
  describe('in-process: AccessReloadService.apply and SIGHUP', () => {
    let gw: TestGateway;
    let reload: AccessReloadService;
    let opened: Client[] = [];
    const open = async (address: string) => {
      const c = await Client.open(gw.port, address);
      opened.push(c);
      return c;
    };
    const loggedIn = async (address: string, uid: string) => {
      const c = await open(address);
      expect((await c.login(await gw.token(uid)))?.op).toBe(LOGIN_REPLY);
      return c;
    };

    beforeAll(async () => {
      gw = await startGateway({});
      reload = gw.app.get(AccessReloadService);
    });
    afterEach(async () => {
      reload.apply(lists({}));
      for (const c of opened) c.socket.destroy();
      opened = [];
      await until(() => gw.server.connectionCount === 0, 'connections to close');
    });
    afterAll(() => gw.close());

    it('kicks existing connections of a newly blacklisted IP and user with KICK access-denied, refuses new ones, and leaves the others alone', async () => {
      const sessions = gw.app.get(SessionService);
      const alice = await loggedIn('127.0.0.2', 'alice'); // IP about to be blacklisted
      const anonymous = await open('127.0.0.2'); // same IP, not logged in
      const bob = await loggedIn('127.0.0.3', 'bob'); // user about to be blacklisted
      const carol = await loggedIn('127.0.0.1', 'carol'); // stays

      const kicked = reload.apply(lists({ ipBlacklist: ['127.0.0.2'], userBlacklist: ['bob'] }));

      expect(kicked).toBe(3);
      for (const c of [alice, anonymous, bob]) {
        expect(await c.waitClosed()).toBe(true);
        expect(c.kick).toBe('access-denied');
        expect(c.frames.at(-1)?.op).toBe(Op.KICK);
      }
      expect(sessions.isOnline('alice')).toBe(false);
      expect(sessions.isOnline('bob')).toBe(false);
      expect(carol.closed).toBe(false);
      expect(await carol.heartbeatOk()).toBe(true);
      // New connections: the IP at accept, the user at LOGIN.
      await expectRefused(gw.port, '127.0.0.2');
      const bobAgain = await open('127.0.0.4');
      expect((await bobAgain.login(await gw.token('bob')))?.code).toBe('access-denied');
      expect(await bobAgain.waitClosed()).toBe(true);
      await loggedIn('127.0.0.4', 'dave');

      // Lifting the lists admits both again, still without a restart.
      expect(reload.apply(lists({}))).toBe(0);
      await loggedIn('127.0.0.2', 'alice');
      await loggedIn('127.0.0.5', 'bob');
    });

    it('kicks every connection outside a new IP whitelist, and every logged-in user outside a new user whitelist', async () => {
      const inside = await loggedIn('127.0.0.1', 'carol');
      const outside = await loggedIn('127.0.0.6', 'erin');
      expect(reload.apply(lists({ ipWhitelist: ['127.0.0.0/31'] }))).toBe(1);
      expect(await outside.waitClosed()).toBe(true);
      expect(outside.kick).toBe('access-denied');
      expect(await inside.heartbeatOk()).toBe(true);
      await expectRefused(gw.port, '127.0.0.6');

      const frank = await loggedIn('127.0.0.1', 'frank');
      const notYet = await open('127.0.0.1'); // not logged in: checked at its LOGIN
      expect(reload.apply(lists({ userWhitelist: ['carol'] }))).toBe(1);
      expect(await frank.waitClosed()).toBe(true);
      expect(frank.kick).toBe('access-denied');
      expect(await inside.heartbeatOk()).toBe(true);
      expect(await notYet.heartbeatOk()).toBe(true);
      expect((await notYet.login(await gw.token('grace')))?.code).toBe('access-denied');
    });

    describe('SIGHUP', () => {
      let dir: string;
      let savedConfigEnv: string | undefined;
      beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), 'longlink-reload-'));
        savedConfigEnv = process.env.LONGLINK_CONFIG;
        process.env.LONGLINK_CONFIG = join(dir, 'override.yaml');
      });
      afterAll(() => {
        if (savedConfigEnv === undefined) delete process.env.LONGLINK_CONFIG;
        else process.env.LONGLINK_CONFIG = savedConfigEnv;
        rmSync(dir, { recursive: true, force: true });
      });

      it('re-reads the lists from the config file on SIGHUP and applies them to existing connections', async () => {
        const victim = await loggedIn('127.0.0.7', 'henry');
        const stays = await loggedIn('127.0.0.1', 'carol');
        writeFileSync(process.env.LONGLINK_CONFIG!, 'access:\n  ipBlacklist: [127.0.0.7]\n');
        // The listener AccessReloadService installed, as a `kill -HUP` would call it.
        process.emit('SIGHUP', 'SIGHUP');
        expect(await victim.waitClosed()).toBe(true);
        expect(victim.kick).toBe('access-denied');
        expect(await stays.heartbeatOk()).toBe(true);
        await expectRefused(gw.port, '127.0.0.7');
      });

      it('keeps the current lists when the file is invalid', async () => {
        writeFileSync(process.env.LONGLINK_CONFIG!, 'access:\n  ipBlacklist: [127.0.0.8]\n');
        expect(reload.reloadFromConfig()).toBe(true);
        const c = await open('127.0.0.9');
        writeFileSync(
          process.env.LONGLINK_CONFIG!,
          'access:\n  ipBlacklist: [127.0.0.9, not-an-ip]\n',
        );
        expect(reload.reloadFromConfig()).toBe(false);
        expect(await c.heartbeatOk()).toBe(true);
        await expectRefused(gw.port, '127.0.0.8');
      });
    });
  });

  const built = existsSync(MAIN);
  const describeBuilt = built ? describe : describe.skip;
  if (!built) {
    console.log(
      `access-reload: child-process variant skipped: ${MAIN} is missing (run \`npx nest build\`)`,
    );
  }

  describeBuilt(
    `a gateway process (node dist/main.js)${built ? '' : ' — SKIPPED: dist/main.js is missing, run `npx nest build`'}`,
    () => {
      const secret = 'access-reload-spec-secret-0123456789';
      let dir: string;
      let configFile: string;
      let child: ChildProcess;
      let port: number;
      let output = '';
      let exit: Promise<number | null>;
      const clients: Client[] = [];
      const token = (uid: string) => mintToken(uid, { secret });
      const open = async (address: string) => {
        const c = await Client.open(port, address);
        clients.push(c);
        return c;
      };
      const writeLists = (l: Partial<Lists>) =>
        writeFileSync(
          configFile,
          [
            'messaging:',
            '  store: memory',
            'access:',
            `  ipBlacklist: ${JSON.stringify(l.ipBlacklist ?? [])}`,
            `  userBlacklist: ${JSON.stringify(l.userBlacklist ?? [])}`,
            '',
          ].join('\n'),
        );

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'longlink-reload-child-'));
        configFile = join(dir, 'longlink.yaml');
        writeLists({});
        port = await new Promise<number>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => {
            const p = (s.address() as { port: number }).port;
            s.close(() => resolve(p));
          });
        });
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env))
          if (!k.startsWith('LONGLINK_')) env[k] = v;
        Object.assign(env, {
          LONGLINK_CONFIG: configFile,
          LONGLINK_PORT: String(port),
          LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
          LONGLINK_JWT_SECRET: secret,
          LONGLINK_LOG_LEVEL: 'log',
        });
        child = spawn(process.execPath, [MAIN], { cwd: ROOT, env, stdio: 'pipe' });
        const append = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-50_000));
        child.stdout!.on('data', append);
        child.stderr!.on('data', append);
        exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
        await until(
          () => output.includes('listening on'),
          `the gateway to listen:\n${output}`,
          15_000,
        );
      });

      afterAll(async () => {
        for (const c of clients) c.socket.destroy();
        if (child.exitCode === null) child.kill('SIGKILL');
        await exit;
        rmSync(dir, { recursive: true, force: true });
      });

      it('applies an edited file on SIGHUP: kicks the newly blacklisted IP and user, keeps the rest, and exits 0 on SIGTERM', async () => {
        const fromBadIp = await open('127.0.0.2');
        expect((await fromBadIp.login(await token('ivan')))?.op).toBe(LOGIN_REPLY);
        const badUser = await open('127.0.0.3');
        expect((await badUser.login(await token('mallory')))?.op).toBe(LOGIN_REPLY);
        const good = await open('127.0.0.1');
        expect((await good.login(await token('carol')))?.op).toBe(LOGIN_REPLY);

        writeLists({ ipBlacklist: ['127.0.0.2'], userBlacklist: ['mallory'] });
        child.kill('SIGHUP');
        expect(await fromBadIp.waitClosed()).toBe(true);
        expect(await badUser.waitClosed()).toBe(true);
        expect([fromBadIp.kick, badUser.kick]).toEqual(['access-denied', 'access-denied']);
        await until(() => output.includes('access lists reloaded'), 'the reload log line');
        expect(await good.heartbeatOk()).toBe(true);
        await expectRefused(port, '127.0.0.2');

        // An invalid edit keeps the lists in force.
        writeFileSync(configFile, 'access:\n  ipBlacklist: [nonsense]\n');
        child.kill('SIGHUP');
        await until(() => output.includes('lists not reloaded'), 'the refusal log line');
        await expectRefused(port, '127.0.0.2');

        // Lifted again: admitted again, still the same process.
        writeLists({});
        child.kill('SIGHUP');
        await until(
          () => (output.match(/access lists reloaded/g) ?? []).length >= 2,
          'the second reload',
        );
        const back = await open('127.0.0.2');
        expect((await back.login(await token('ivan')))?.op).toBe(LOGIN_REPLY);
        expect(await good.heartbeatOk()).toBe(true);

        child.kill('SIGTERM');
        expect(await exit).toBe(0);
      }, 30_000);
    },
  );
});
