import { mkdtempSync, rmSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { selfSignedCert } from './support/self-signed-cert';
import { until } from './support/wait';
import { WsTestClient } from './support/ws-test-client';

/**
 * What is refused before the upgrade, with a plain HTTP status and no PDU
 * (docs/PROTOCOL.md, WebSocket): origins outside websocket.allowedOrigins (403),
 * addresses TCP would refuse at accept (403), a gateway that is not accepting
 * (503). And wss:// on the HTTP port with the TCP listener's certificate.
 */

const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

const wsUrl = (h: HttpTestGateway) => `ws://127.0.0.1:${h.httpPort}/ws`;

/** A gateway for one describe block. */
function gatewayFor(overrides: LonglinkConfigOverrides): () => HttpTestGateway {
  let h: HttpTestGateway;
  beforeAll(async () => {
    h = await startHttpGateway(overrides);
  });
  afterAll(() => h.close());
  return () => h;
}

async function expectServed(c: WsTestClient, h: HttpTestGateway, uid: string): Promise<void> {
  expect((await c.login(await h.token(uid))).op).toBe(LOGIN_REPLY);
  expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
  c.close();
}

/** A raw TCP connection to the transport: resolves whether the server closed it unread. */
function tcpRefused(port: number, localAddress?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    let bytes = 0;
    socket.on('data', (chunk) => (bytes += chunk.length));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(bytes === 0));
    // Still open after a while: accepted.
    setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 500).unref();
  });
}

describe('WebSocket refusals', () => {
  describe('websocket.allowedOrigins: a list', () => {
    const gw = gatewayFor({ websocket: { allowedOrigins: ['https://chat.example.com'] } });

    it('accepts exactly the listed origins, and clients without an Origin', async () => {
      const h = gw();
      await expectServed(
        await WsTestClient.connect(wsUrl(h), { origin: 'https://chat.example.com' }),
        h,
        'listed',
      );
      await expectServed(await WsTestClient.connect(wsUrl(h)), h, 'no-origin');
    });

    it("refuses others with 403, the port's own origin included", async () => {
      const h = gw();
      for (const origin of [
        'http://chat.example.com',
        'https://chat.example.com:8443',
        'https://evil.example',
        `http://127.0.0.1:${h.httpPort}`,
      ]) {
        expect(await WsTestClient.refusal(wsUrl(h), { origin })).toBe(403);
      }
      expect(h.gateway.server.connectionCount).toBe(0);
    });
  });

  describe('websocket.allowedOrigins: "*"', () => {
    const gw = gatewayFor({ websocket: { allowedOrigins: ['*'] } });

    it('accepts any origin', async () => {
      const h = gw();
      await expectServed(
        await WsTestClient.connect(wsUrl(h), { origin: 'https://anywhere.example' }),
        h,
        'anywhere',
      );
    });
  });

  describe('access.ipBlacklist 127.0.0.1', () => {
    const gw = gatewayFor({ access: { ipBlacklist: ['127.0.0.1'] } });

    it('refuses a WebSocket upgrade from it with 403, as TCP refuses it at accept', async () => {
      const h = gw();
      expect(await WsTestClient.refusal(wsUrl(h))).toBe(403);
      expect(await tcpRefused(h.port)).toBe(true);
      expect(h.gateway.server.connectionCount).toBe(0);
      // The HTTP port itself is not behind the transport's lists.
      expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
      // Another address is let in.
      await expectServed(
        await WsTestClient.connect(wsUrl(h), { localAddress: '127.0.0.2' }),
        h,
        'other-ip',
      );
    });
  });

  describe('server.maxConnectionsPerIp 2', () => {
    const gw = gatewayFor({ server: { maxConnectionsPerIp: 2 } });

    it('counts WebSocket and TCP connections of an IP together, and frees the slot at close', async () => {
      const h = gw();
      const from = { localAddress: '127.0.0.3' };
      const first = await WsTestClient.connect(wsUrl(h), from);
      const second = await WsTestClient.connect(wsUrl(h), from);
      expect(await WsTestClient.refusal(wsUrl(h), from)).toBe(403);
      expect(await tcpRefused(h.port, '127.0.0.3')).toBe(true);
      first.close();
      await until(() => h.gateway.server.connectionCount === 1, 'the first one gone');
      await expectServed(await WsTestClient.connect(wsUrl(h), from), h, 'third');
      second.close();
    });
  });

  describe('websocket.enabled false', () => {
    const gw = gatewayFor({ websocket: { enabled: false } });

    it('does not upgrade /ws', async () => {
      const h = gw();
      await expect(WsTestClient.connect(wsUrl(h))).rejects.toThrow();
      expect(h.gateway.server.connectionCount).toBe(0);
      expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
    });
  });

  describe('while draining', () => {
    it('answers 503 once gateway.close() has started; open WebSocket users get RECONNECT, then 1000', async () => {
      const h = await startHttpGateway();
      // A TCP peer that never closes keeps the drain going (up to the 1 s close grace).
      const lingering = await new Promise<Socket>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: h.port, allowHalfOpen: true });
        s.on('error', () => undefined);
        s.once('connect', () => resolve(s));
      });
      const user = await WsTestClient.connect(wsUrl(h));
      expect((await user.login(await h.token('drained'))).op).toBe(LOGIN_REPLY);
      await until(() => h.gateway.server.connectionCount === 2, 'both peers adopted');
      const closing = h.close();
      expect(h.gateway.server.isDraining).toBe(true);
      expect(await WsTestClient.refusal(wsUrl(h))).toBe(503);
      // The WebSocket user is told to come back later, then closed normally.
      expect((await user.waitForOp(Op.RECONNECT)).body).toMatchObject({
        reason: 'server-shutdown',
      });
      expect(await user.waitClosed()).toEqual({ code: 1000, reason: '' });
      lingering.destroy();
      await closing;
    });
  });

  describe('server.tls set', () => {
    let dir: string;
    let ca: Buffer;
    let h: HttpTestGateway;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'longlink-wss-'));
      // Self-signed for localhost / 127.0.0.1, one day (as test/tls.e2e-spec.ts makes it).
      const { certFile, keyFile, cert } = selfSignedCert(dir);
      ca = cert;
      h = await startHttpGateway({ server: { tls: { certFile, keyFile } } });
    });
    afterAll(async () => {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('serves wss:// on the HTTP port with the TCP listener certificate', async () => {
      const c = await WsTestClient.connect(`wss://127.0.0.1:${h.httpPort}/ws`, { ca });
      await expectServed(c, h, 'over-wss');
    });

    it('does not speak plain ws:// there', async () => {
      await expect(WsTestClient.connect(wsUrl(h))).rejects.toThrow();
      expect(h.gateway.server.connectionCount).toBe(0);
    });
  });
});
