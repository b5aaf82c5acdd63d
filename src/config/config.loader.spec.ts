import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_JWT_SECRET } from './config.constants.js';
import { ConfigError } from './config.error.js';
import { loadConfig, type LoadConfigOptions } from './config.loader.js';
import { longlinkConfigSchema, parseCidr, toBlockList } from './longlink-config.js';

/** Runs loadConfig expecting a ConfigError, and returns it for assertions. */
function configError(options: LoadConfigOptions): ConfigError {
  try {
    loadConfig(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'longlink-config-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function writeYaml(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  describe('defaults', () => {
    it('loads config/default.yaml and resolves the heartbeat timeout to 3 × interval', () => {
      const config = loadConfig({ env: {} });
      expect(config.server).toEqual({
        host: '127.0.0.1',
        port: 7400,
        maxFrameBytes: 65536,
        maxPreLoginFrameBytes: 8192,
        maxWriteBufferBytes: 1048576,
        maxJsonDepth: 64,
        maxJsonItems: 2048,
        loginTimeoutMs: 10000,
        maxConnectionsPerIp: 1000,
        connectRateWindowMs: 1000,
        maxConnectsPerIpPerWindow: 100,
        drainTimeoutMs: 10000,
        helperThreadPriority: 'auto',
        reconnectAfterMs: 1000,
        reconnectJitterMs: 5000,
        proxyProtocol: 'off',
        trustedProxies: [],
        proxyHeaderTimeoutMs: 5000,
        tls: { certFile: null, keyFile: null },
      });
      expect(config.heartbeat).toEqual({
        intervalMs: 30000,
        timeoutMs: 90000,
        sweepIntervalMs: 1000,
        maxKicksPerTurn: 256,
      });
      expect(config.auth).toEqual({
        jwtSecret: DEV_JWT_SECRET,
        jwtIssuer: null,
        jwtAudience: null,
        maxFailedLogins: 5,
        failedLoginWindowMs: 60000,
        failedLoginBanMs: 300000,
      });
      expect(config.rateLimit).toEqual({
        intervalMs: 1000,
        maxPackets: 200,
        kickPackets: 400,
        maxKicksPerIp: 5,
        kickWindowMs: 60_000,
        kickBanMs: 300_000,
        maxBytes: 524_288,
        maxIpBytes: 33_554_432,
        maxPreLoginBytes: 16_384,
        maxPreLoginIpBytes: 524_288,
      });
      expect(config.log.level).toBe('log');
    });

    it('leaves every messaging quota off', () => {
      expect(loadConfig({ env: {} }).messaging).toMatchObject({
        maxContentBytes: null,
        maxInboxMessages: null,
        maxInboxBytes: null,
        maxSenderMessagesPerDay: null,
        maxSenderBytesPerDay: null,
      });
    });

    it('matches the schema defaults, so the two cannot drift apart', () => {
      expect(longlinkConfigSchema.parse({})).toEqual(loadConfig({ env: {} }));
    });
  });

  describe('environment', () => {
    it('overrides port, host, secret, log level, frame size and heartbeat interval', () => {
      const config = loadConfig({
        env: {
          LONGLINK_PORT: '0',
          LONGLINK_HOST: '0.0.0.0',
          LONGLINK_JWT_SECRET: 'a-real-secret',
          LONGLINK_LOG_LEVEL: 'debug',
          LONGLINK_MAX_FRAME_BYTES: '1024',
          LONGLINK_HEARTBEAT_INTERVAL_MS: '5000',
        },
      });
      expect(config.server.port).toBe(0);
      expect(config.server.host).toBe('0.0.0.0');
      expect(config.server.maxFrameBytes).toBe(1024);
      expect(config.auth.jwtSecret).toBe('a-real-secret');
      expect(config.log.level).toBe('debug');
      expect(config.heartbeat).toMatchObject({ intervalMs: 5000, timeoutMs: 15000 });
    });

    it('treats an empty variable as unset', () => {
      expect(loadConfig({ env: { LONGLINK_PORT: '' } }).server.port).toBe(7400);
    });

    it.each(['abc', '7400abc', ' 7400', '0x1F', '1e3', '-1', '7.5'])(
      'rejects LONGLINK_PORT=%j naming the variable',
      (value) => {
        const error = configError({ env: { LONGLINK_PORT: value } });
        expect(error.key).toBe('LONGLINK_PORT');
        expect(error.message).toContain('LONGLINK_PORT');
        expect(error.message).toContain(JSON.stringify(value));
      },
    );

    it('names the variable when its number is out of range', () => {
      const error = configError({ env: { LONGLINK_PORT: '70000' } });
      expect(error.key).toBe('server.port');
      expect(error.message).toBe(
        'invalid config: server.port: must be an integer between 0 and 65535 (got 70000) (from LONGLINK_PORT)',
      );
    });
  });

  describe('files', () => {
    it('merges a partial LONGLINK_CONFIG file over the defaults', () => {
      const file = writeYaml(
        'partial.yaml',
        'server:\n  port: 0\naccess:\n  ipBlacklist: [10.0.0.0/8, "2001:db8::/32"]\n',
      );
      const config = loadConfig({ env: { LONGLINK_CONFIG: file } });
      expect(config.server.port).toBe(0);
      expect(config.server.host).toBe('127.0.0.1');
      expect(config.server.maxFrameBytes).toBe(65536);
      expect(config.access.ipBlacklist).toEqual(['10.0.0.0/8', '2001:db8::/32']);
      expect(config.heartbeat.timeoutMs).toBe(90000);
    });

    it('prefers options.file over LONGLINK_CONFIG, and env variables over both files', () => {
      const chosen = writeYaml('chosen.yaml', 'server:\n  host: 10.1.1.1\n  port: 1\n');
      const ignored = writeYaml('ignored.yaml', 'server:\n  host: 10.2.2.2\n');
      const config = loadConfig({
        file: chosen,
        env: { LONGLINK_CONFIG: ignored, LONGLINK_PORT: '2' },
      });
      expect(config.server).toMatchObject({ host: '10.1.1.1', port: 2 });
    });

    it('accepts an empty override file', () => {
      const file = writeYaml('empty.yaml', '# nothing to change\n');
      expect(loadConfig({ file, env: {} }).server.port).toBe(7400);
    });

    it('names a missing file', () => {
      const file = join(dir, 'missing.yaml');
      const error = configError({ env: { LONGLINK_CONFIG: file } });
      expect(error.key).toBe(file);
      expect(error.message).toContain(file);
    });

    it('names an unparsable file', () => {
      const file = writeYaml('broken.yaml', 'server:\n  port: 1\n  port: 2\n');
      const error = configError({ file, env: {} });
      expect(error.key).toBe(file);
      expect(error.message).toMatch(/not valid YAML/);
    });

    it('names a file whose top level is not a mapping', () => {
      const file = writeYaml('list.yaml', '- 1\n- 2\n');
      expect(configError({ file, env: {} }).key).toBe(file);
    });
  });

  describe('overrides', () => {
    it('are merged last, over the environment', () => {
      const config = loadConfig({
        env: { LONGLINK_PORT: '9000' },
        overrides: { server: { port: 0 }, heartbeat: { timeoutMs: 45000 } },
      });
      expect(config.server.port).toBe(0);
      expect(config.server.host).toBe('127.0.0.1');
      expect(config.heartbeat).toEqual({
        intervalMs: 30000,
        timeoutMs: 45000,
        sweepIntervalMs: 1000,
        maxKicksPerTurn: 256,
      });
    });
  });

  describe('validation', () => {
    it('reads messaging quotas from a file, and names one that is not a positive integer', () => {
      const file = writeYaml(
        'quotas.yaml',
        'messaging:\n  maxContentBytes: 16384\n  maxInboxMessages: 10000\n  maxInboxBytes: 16777216\n' +
          '  maxSenderMessagesPerDay: 10000\n  maxSenderBytesPerDay: null\n',
      );
      expect(loadConfig({ file, env: {} }).messaging).toMatchObject({
        maxContentBytes: 16384,
        maxInboxMessages: 10000,
        maxInboxBytes: 16777216,
        maxSenderMessagesPerDay: 10000,
        maxSenderBytesPerDay: null,
      });
      for (const key of [
        'maxContentBytes',
        'maxInboxMessages',
        'maxInboxBytes',
        'maxSenderMessagesPerDay',
        'maxSenderBytesPerDay',
      ]) {
        for (const bad of [0, 1.5, '10']) {
          const error = configError({ env: {}, overrides: { messaging: { [key]: bad } } });
          expect(error.key).toBe(`messaging.${key}`);
        }
      }
    });

    it('refuses a byte quota smaller than messaging.maxContentBytes', () => {
      for (const key of ['maxInboxBytes', 'maxSenderBytesPerDay']) {
        const error = configError({
          env: {},
          overrides: { messaging: { maxContentBytes: 1000, [key]: 999 } },
        });
        expect(error.key).toBe(`messaging.${key}`);
        expect(error.message).toContain('at least messaging.maxContentBytes (1000)');
        expect(() =>
          loadConfig({ env: {}, overrides: { messaging: { maxContentBytes: 1000, [key]: 1000 } } }),
        ).not.toThrow();
      }
    });

    it('names messaging.postgres.url when the PostgreSQL store has none', () => {
      const error = configError({ env: {}, overrides: { messaging: { store: 'postgres' } } });
      expect(error.key).toBe('messaging.postgres.url');
      const url = 'postgres://postgres@127.0.0.1:5432/longlink';
      const config = loadConfig({
        env: { LONGLINK_POSTGRES_URL: url },
        overrides: { messaging: { store: 'postgres' } },
      });
      expect(config.messaging.postgres.url).toBe(url);
    });

    it('names the keys of limits that must be positive (frame before login, read budgets)', () => {
      for (const [section, key] of [
        ['server', 'maxPreLoginFrameBytes'],
        ['server', 'maxJsonItems'],
        ['rateLimit', 'maxBytes'],
        ['rateLimit', 'maxPreLoginIpBytes'],
      ] as const) {
        const error = configError({ env: {}, overrides: { [section]: { [key]: 0 } } });
        expect(error.key).toBe(`${section}.${key}`);
      }
    });

    it('names the key of a bad port', () => {
      const error = configError({ env: {}, overrides: { server: { port: 65536 } } });
      expect(error.key).toBe('server.port');
      expect(error.message).toBe(
        'invalid config: server.port: must be an integer between 0 and 65535 (got 65536)',
      );
    });

    it('names a non-numeric port from a file with its value', () => {
      const file = writeYaml('port.yaml', 'server:\n  port: abc\n');
      expect(configError({ file, env: {} }).message).toBe(
        'invalid config: server.port: must be an integer between 0 and 65535 (got "abc")',
      );
    });

    it('rejects unknown keys at any depth', () => {
      const file = writeYaml('typo.yaml', 'server:\n  prot: 1\nlogging:\n  level: debug\n');
      const error = configError({ file, env: {} });
      expect(error.message.split('\n')).toEqual([
        'invalid config: server.prot: unknown key',
        'invalid config: logging: unknown key',
      ]);
    });

    it('rejects kickPackets below maxPackets', () => {
      const error = configError({
        env: {},
        overrides: { rateLimit: { maxPackets: 100, kickPackets: 50 } },
      });
      expect(error.key).toBe('rateLimit.kickPackets');
      expect(error.message).toContain('rateLimit.maxPackets');
    });

    it('rejects a heartbeat timeout not above the interval', () => {
      const error = configError({ env: {}, overrides: { heartbeat: { timeoutMs: 30000 } } });
      expect(error.key).toBe('heartbeat.timeoutMs');
    });

    it.each([
      ['frame limit below the header', { server: { maxFrameBytes: 15 } }, 'server.maxFrameBytes'],
      ['frame limit above 16 MiB', { server: { maxFrameBytes: 16777217 } }, 'server.maxFrameBytes'],
      ['zero login timeout', { server: { loginTimeoutMs: 0 } }, 'server.loginTimeoutMs'],
      ['fractional buffer', { server: { maxWriteBufferBytes: 1.5 } }, 'server.maxWriteBufferBytes'],
      ['empty user id', { access: { userWhitelist: ['alice', ''] } }, 'access.userWhitelist[1]'],
      ['unknown log level', { log: { level: 'info' } }, 'log.level'],
    ])('rejects: %s', (_name, overrides, key) => {
      expect(configError({ env: {}, overrides: overrides as never }).key).toBe(key);
    });

    it('reports every problem, one per line', () => {
      const error = configError({
        env: {},
        overrides: { server: { port: -1, loginTimeoutMs: 0 }, log: { level: 'loud' as never } },
      });
      expect(error.problems.map((p) => p.key)).toEqual([
        'server.port',
        'server.loginTimeoutMs',
        'log.level',
      ]);
      expect(error.message.split('\n')).toHaveLength(3);
    });

    it('never echoes the secret', () => {
      const error = configError({ env: {}, overrides: { auth: { jwtSecret: '' } } });
      expect(error.message).toBe('invalid config: auth.jwtSecret: must be a non-empty string');
    });
  });

  describe('IP access lists', () => {
    it.each([
      '10.0.0.0/8',
      '192.168.1.7',
      '0.0.0.0/0',
      '2001:db8::/32',
      '::1',
      '::ffff:10.0.0.0/104',
    ])('accepts %s', (entry) => {
      const config = loadConfig({ env: {}, overrides: { access: { ipWhitelist: [entry] } } });
      expect(config.access.ipWhitelist).toEqual([entry]);
    });

    it.each([
      '10.0.0.0/33',
      '10.0.0/8',
      '2001:db8::/129',
      'localhost',
      '10.0.0.0/',
      '10.0.0.0/a',
      'fe80::1%eth0',
    ])('rejects %s naming the entry', (entry) => {
      const error = configError({
        env: {},
        overrides: { access: { ipBlacklist: ['127.0.0.1', entry] } },
      });
      expect(error.key).toBe('access.ipBlacklist[1]');
      expect(error.message).toContain(JSON.stringify(entry));
    });

    it('treats a bare IP as a single-address block', () => {
      expect(parseCidr('192.168.1.7')).toEqual({
        address: '192.168.1.7',
        prefix: 32,
        family: 'ipv4',
      });
      expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
      const list = toBlockList(['192.168.1.7', '2001:db8::/32']);
      expect(list.check('192.168.1.7', 'ipv4')).toBe(true);
      expect(list.check('192.168.1.8', 'ipv4')).toBe(false);
      expect(list.check('2001:db8::42', 'ipv6')).toBe(true);
    });
  });

  describe('PROXY protocol', () => {
    it('reads the mode, trusted proxies and header timeout from a file', () => {
      const file = writeYaml(
        'proxy.yaml',
        'server:\n  proxyProtocol: v2\n  trustedProxies: [10.0.0.0/8, "fd00::/8"]\n  proxyHeaderTimeoutMs: 2000\n',
      );
      const config = loadConfig({ file, env: {} });
      expect(config.server.proxyProtocol).toBe('v2');
      expect(config.server.trustedProxies).toEqual(['10.0.0.0/8', 'fd00::/8']);
      expect(config.server.proxyHeaderTimeoutMs).toBe(2000);
    });

    it('reads `off` as the mode, not as a YAML boolean', () => {
      const file = writeYaml('proxy-off.yaml', 'server:\n  proxyProtocol: off\n');
      expect(loadConfig({ file, env: {} }).server.proxyProtocol).toBe('off');
    });

    it.each(['v1', 'v2', 'auto'] as const)(
      'refuses %s without trusted proxies, naming server.trustedProxies',
      (mode) => {
        const error = configError({ env: {}, overrides: { server: { proxyProtocol: mode } } });
        expect(error.key).toBe('server.trustedProxies');
        expect(error.message).toContain(`server.proxyProtocol is ${mode}`);
      },
    );

    it('names a bad trusted proxy entry like the access lists do', () => {
      const error = configError({
        env: {},
        overrides: {
          server: { proxyProtocol: 'auto', trustedProxies: ['10.0.0.1', '10.0.0.0/33'] },
        },
      });
      expect(error.key).toBe('server.trustedProxies[1]');
    });

    it.each([
      ['an unknown mode', { proxyProtocol: 'v3' }, 'server.proxyProtocol'],
      ['a zero header timeout', { proxyHeaderTimeoutMs: 0 }, 'server.proxyHeaderTimeoutMs'],
    ])('rejects %s', (_name, server, key) => {
      expect(configError({ env: {}, overrides: { server: server as never } }).key).toBe(key);
    });
  });

  describe('production secret', () => {
    it('refuses the development secret when NODE_ENV=production', () => {
      const error = configError({ env: { NODE_ENV: 'production' } });
      expect(error.key).toBe('auth.jwtSecret');
      expect(error.message).toBe(
        'invalid config: auth.jwtSecret: the development secret is refused when NODE_ENV=production; set LONGLINK_JWT_SECRET',
      );
    });

    it('accepts a real secret in production', () => {
      const config = loadConfig({
        env: { NODE_ENV: 'production', LONGLINK_JWT_SECRET: 'a-real-secret' },
      });
      expect(config.auth.jwtSecret).toBe('a-real-secret');
    });

    it.each([undefined, 'development', 'test'])(
      'accepts the development secret when NODE_ENV=%s',
      (nodeEnv) => {
        expect(loadConfig({ env: { NODE_ENV: nodeEnv } }).auth.jwtSecret).toBe(DEV_JWT_SECRET);
      },
    );
  });
});
