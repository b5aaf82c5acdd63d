import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { AppModule } from './app.module.js';
import { ConfigError } from './config/config.error.js';
import { loadConfig } from './config/config.loader.js';
import { createGateway } from './gateway.factory.js';

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
  const { app } = await createGateway({ config, imports: [AppModule] });
  app.enableShutdownHooks();
  await app.listen();
}

bootstrap().catch((err: unknown) => {
  new Logger('longlink').error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
