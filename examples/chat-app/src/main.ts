import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { LonglinkServer } from 'longlink';
import { AppConfig } from './app.config.js';
import { AppModule } from './app.module.js';

/** A hybrid app: HTTP on CHAT_HTTP_PORT (3000), longlink on CHAT_LONGLINK_PORT (7400). */
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  // LonglinkModule made the transport; hand it to Nest as the app's microservice.
  app.connectMicroservice({ strategy: app.get(LonglinkServer) });
  app.enableShutdownHooks();
  const config = app.get(AppConfig);
  // Any order works (init, startAllMicroservices, listen): connections wait until the app is ready.
  await app.startAllMicroservices();
  await app.listen(config.httpPort, config.host);
  const server = app.get(LonglinkServer);
  console.log(`chat-app: HTTP on ${await app.getUrl()}, longlink on ${config.host}:${server.port}`);
}

void bootstrap();
