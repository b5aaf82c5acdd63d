import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { MAIN, ROOT } from './support/child-gateway';
import { freePort } from './support/free-port';

/** Runs `node dist/main.js` with `env`; resolves with its exit code and output once it exits. */
function runGateway(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const clean: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith('LONGLINK_')) clean[key] = value;
    }
    const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: { ...clean, ...env } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('cluster mode at start', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`npx nest build\` first`);
  });

  it('stops with a startup error naming cluster.redis.url when Redis cannot be reached', async () => {
    const { code, output } = await runGateway({
      LONGLINK_PORT: String(await freePort()),
      LONGLINK_HTTP_PORT: '0', // parallel gateways: no shared HTTP port
      LONGLINK_REDIS_URL: 'redis://127.0.0.1:1',
      LONGLINK_LOG_LEVEL: 'error',
      LONGLINK_DATA_DIR: `/tmp/longlink-cluster-startup-${process.pid}`,
    });
    expect(code).toBe(78);
    expect(output).toMatch(
      /longlink: invalid config: cluster\.redis\.url: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
  }, 20_000);
});
