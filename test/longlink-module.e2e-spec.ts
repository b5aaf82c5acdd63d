import { Controller, Injectable, Module } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import { mintToken } from '../src/auth/token.factory';
import { ConfigError } from '../src/config/config.error';
import { LonglinkModule } from '../src/longlink.module';
import { SessionService } from '../src/session/session.service';
import { createTestingGateway } from '../src/testing';
import { LonglinkContext } from '../src/transport/longlink.context';
import { LonglinkServer } from '../src/transport/longlink.server';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestClient } from './support/test-client';

/** Stands in for an application's own configuration service (e.g. @nestjs/config's). */
@Injectable()
class AppSettings {
  readonly secret = 'secret-from-the-application-0123456789';
  get(key: 'port'): number {
    return key === 'port' ? 0 : NaN;
  }
}

@Module({ providers: [AppSettings], exports: [AppSettings] })
class SettingsModule {}

/** A feature module of an application: it imports nothing of longlink's, yet injects SessionService. */
@Controller()
class NudgeController {
  constructor(private readonly sessions: SessionService) {}

  @MessagePattern('nudge', { op: 1200 })
  nudge(@Payload() body: { to: string }, @Ctx() ctx: LonglinkContext): { delivered: boolean } {
    return { delivered: this.sessions.push(body.to, 1201, { from: ctx.getUser()?.uid }) };
  }
}

@Module({ controllers: [NudgeController] })
class NudgeModule {}

/**
 * LonglinkModule.forRoot(options) and forRootAsync({ imports, inject, useFactory }):
 * options from code or from the application's providers, validated at start
 * with the loader's messages.
 */
describe('LonglinkModule', () => {
  it("takes its options from the application's own providers, for the app's strategy (forRootAsync)", async () => {
    const server = new LonglinkServer();

    @Module({
      imports: [
        LonglinkModule.forRootAsync({
          imports: [SettingsModule],
          inject: [AppSettings],
          useFactory: (settings: AppSettings) => ({
            server: { port: settings.get('port') },
            auth: { jwtSecret: settings.secret },
            messaging: { store: 'memory' },
            log: { level: 'error' },
          }),
        }),
      ],
    })
    class AsyncApp {}

    const app = await NestFactory.createMicroservice(AsyncApp, { strategy: server, logger: false });
    await app.listen();
    try {
      const c = await TestClient.connect(server.port);
      const token = await mintToken('ada', { secret: new AppSettings().secret, expiresIn: '1h' });
      expect((await c.login(token)).op).toBe((Op.LOGIN | REPLY_FLAG) >>> 0);
      c.close();
    } finally {
      await app.close();
    }
  });

  it('makes its own transport for connectMicroservice when none is given (forRoot)', async () => {
    @Module({
      imports: [
        LonglinkModule.forRoot({
          server: { port: 0 },
          messaging: { store: 'memory' },
          log: { level: 'error' },
        }),
      ],
    })
    class PlainApp {}

    const app = await NestFactory.create(PlainApp, { logger: false });
    const server = app.get(LonglinkServer);
    app.connectMicroservice({ strategy: server });
    await app.startAllMicroservices();
    await app.init();
    try {
      const c = await TestClient.connect(server.port);
      expect((await c.request(Op.HEARTBEAT)).op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
      c.close();
    } finally {
      await app.close();
    }
  });

  it('refuses bad options at start with the key and the problem, as the YAML loader does', async () => {
    @Module({
      imports: [
        LonglinkModule.forRootAsync({
          useFactory: async () => ({ server: { port: 70000 }, rateLimit: { maxPackets: 0 } }),
        }),
      ],
    })
    class BadApp {}

    const creating = NestFactory.create(BadApp, { logger: false, abortOnError: false });
    await expect(creating).rejects.toThrow(ConfigError);
    await expect(creating).rejects.toThrow(
      /invalid config: server\.port: must be an integer between 0 and 65535 \(got 70000\)/,
    );
  });

  it("serves the application's feature modules, which inject its services without importing them", async () => {
    const gw = await createTestingGateway({ imports: [NudgeModule] });
    try {
      const [ada, bob] = [await gw.client('ada'), await gw.client('bob')];
      const pushed = bob.waitFor(1201, (body) => (body as { from?: string }).from === 'ada');
      expect(await ada.request(1200, { to: 'bob' })).toEqual({ delivered: true });
      expect(await pushed).toEqual({ from: 'ada' });
    } finally {
      await gw.close();
    }
  });
});
