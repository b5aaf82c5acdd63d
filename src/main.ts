import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { AppModule } from './app.module.js';
import { ConfigError } from './config/config.error.js';
import { loadConfig } from './config/config.loader.js';
import { createGateway } from './gateway.factory.js';
import { lowerHelperThreads, shouldLowerHelperThreads } from './runtime/helper-threads.js';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`longlink: ${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
  const gateway = await createGateway({ config, imports: [AppModule] });
  await gateway.listen();
  if (gateway.httpPort > 0) {
    new Logger('longlink').log(`HTTP on ${config.http.host}:${gateway.httpPort}`);
  }
  if (shouldLowerHelperThreads(config.server.helperThreadPriority)) {
    const n = lowerHelperThreads();
    new Logger('longlink').log(
      `${n} helper threads lowered to nice 19 (server.helperThreadPriority)`,
    );
  }
  // Graceful drain on SIGTERM/SIGINT, then exit 0; a second signal or a stuck drain forces exit.
  const drainLimitMs = config.server.drainTimeoutMs + 5000;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    new Logger('longlink').log(
      `${signal}: draining connections (up to ${config.server.drainTimeoutMs} ms)`,
    );
    setTimeout(() => process.exit(1), drainLimitMs).unref();
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        new Logger('longlink').error(`shutdown failed: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

bootstrap().catch((err: unknown) => {
  // Found while starting (a store that cannot be reached, an unreadable TLS file): like loadConfig's.
  if (err instanceof ConfigError) {
    process.stderr.write(`longlink: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  new Logger('longlink').error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
