import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, connect as tlsConnect } from 'node:tls';
import { ConfigError } from '../src/config/config.error';
import { loadConfig } from '../src/config/config.loader';
import { createGateway, createLonglinkServer } from '../src/gateway.factory';
import { MsgOp } from '../src/messaging/messaging.ops';
import { LonglinkConnection } from '../src/transport/connection';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HeartbeatProbe } from './support/fuzzer';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

/**
 * The optional TLS listener (server.tls.certFile / keyFile), with a self-signed
 * certificate made by the test: the protocol works unchanged inside TLS, a plain
 * TCP client gets nothing usable, IP lists still apply before the handshake, and
 * an unusable certificate stops startup with a ConfigError naming the key.
 */

const LOGIN_TIMEOUT_MS = 1500;
const CLOSE_GRACE_MS = 1000;
const SLACK_MS = 1500;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

/** A self-signed certificate for localhost / 127.0.0.1, valid one day, made with openssl. */
function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile };
}

/** A verified TLS connection to the gateway (servername localhost, trusting only `ca`). */
function connectTls(
  port: number,
  ca: Buffer | undefined,
  localAddress?: string,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // TCP first, from the chosen source address; TLS on top of it.
    const tcp = tcpConnect({ host: '127.0.0.1', port, localAddress });
    tcp.on('error', reject);
    const socket = tlsConnect({ socket: tcp, servername: 'localhost', ca });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Records every frame a socket receives, parsed. */
function record(socket: Socket) {
  const frames: { op: number; seq: number; body: any }[] = [];
  const decoder = new FrameDecoder(
    {
      onFrame: (op, seq, body) =>
        frames.push({ op, seq, body: body.length ? JSON.parse(body.toString()) : undefined }),
      onFrameError: (e) => {
        throw e;
      },
    },
    1 << 20,
  );
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return frames;
}

describe('TLS listener (server.tls.certFile / keyFile)', () => {
  let dir: string;
  let certFile: string;
  let keyFile: string;
  let cert: Buffer;
  let gw: TestGateway;
  const accepted: LonglinkConnection[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'longlink-tls-'));
    ({ certFile, keyFile } = makeCertificate(dir));
    cert = readFileSync(certFile);
    gw = await startGateway({
      server: { tls: { certFile, keyFile }, loginTimeoutMs: LOGIN_TIMEOUT_MS },
      heartbeat: { sweepIntervalMs: 50 },
      access: { ipBlacklist: ['127.0.0.2'] },
    });
    gw.server.on('connection', (conn) => accepted.push(conn));
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await gw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const track = <T extends Socket>(s: T) => {
    sockets.push(s);
    s.on('error', () => undefined);
    return s;
  };

  it('serves LOGIN, HEARTBEAT, SEND and MSG over TLS, to a client that verifies the certificate', async () => {
    const aliceSocket = track(await connectTls(gw.port, cert));
    expect(aliceSocket.authorized).toBe(true);
    expect(aliceSocket.getPeerCertificate().subject.CN).toBe('localhost');
    const alice = await HeartbeatProbe.open({
      port: gw.port,
      socket: aliceSocket,
      token: await gw.token('tls-alice'),
    });
    expect(await alice.rtt()).toBeGreaterThan(0);

    const bobSocket = track(await connectTls(gw.port, cert));
    const bobFrames = record(bobSocket);
    bobSocket.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('tls-bob') }));
    await until(() => bobFrames.some((f) => f.seq === 1), 'bob to log in');
    expect(bobFrames[0]).toMatchObject({
      op: (Op.LOGIN | REPLY_FLAG) >>> 0,
      body: { uid: 'tls-bob' },
    });

    const ack = await alice.request(
      MsgOp.SEND,
      JSON.stringify({ to: 'tls-bob', clientMsgId: 'tls-1', content: { secret: 'over TLS' } }),
    );
    expect(ack.op).toBe((MsgOp.SEND | REPLY_FLAG) >>> 0);
    await until(() => bobFrames.some((f) => f.op === MsgOp.MSG), 'the MSG push');
    const msg = bobFrames.find((f) => f.op === MsgOp.MSG)!;
    expect(msg.body).toMatchObject({ from: 'tls-alice', content: { secret: 'over TLS' }, seq: 1 });
    bobSocket.write(encodeJsonFrame(MsgOp.PUSH_ACK, 2, { upTo: 1 }));
    bobSocket.write(encodeFrame(Op.HEARTBEAT, 3));
    await until(() => bobFrames.some((f) => f.seq === 3), 'a heartbeat reply');
    expect(bobFrames.find((f) => f.seq === 3)!.op).toBe(HEARTBEAT_REPLY);
    // The connection knows the peer's real address, not the TLS wrapper's.
    expect(accepted.at(-1)!.remoteAddress).toBe('127.0.0.1');
    alice.close();
  });

  it('fails the handshake for a client that does not trust the certificate', async () => {
    await expect(connectTls(gw.port, undefined)).rejects.toThrow(/self[- ]signed/i);
  });

  it('gives a plain TCP client no usable answer, and closes it', async () => {
    const raw = track(
      await new Promise<Socket>((resolve, reject) => {
        const s = tcpConnect({ port: gw.port, host: '127.0.0.1' });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    );
    let received = Buffer.alloc(0);
    raw.on('data', (c: Buffer) => (received = Buffer.concat([received, c])));
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    raw.write(encodeJsonFrame(Op.LOGIN, 1, { token: await gw.token('plain') }));
    raw.write(encodeFrame(Op.HEARTBEAT, 2));
    await Promise.race([closed, sleep(3000)]);
    expect(raw.destroyed).toBe(true);
    // At most a TLS alert record (content type 0x15), never a longlink frame.
    if (received.length > 0) expect(received[0]).toBe(0x15);
    expect(received.length >= 16 && received.readUInt16BE(4) === 16).toBe(false);
  });

  it('refuses a blacklisted IP at accept, before any handshake byte', async () => {
    const before = accepted.length;
    await expect(connectTls(gw.port, cert, '127.0.0.2')).rejects.toThrow();
    // Raw: the socket is closed without a byte (no ServerHello), even after a ClientHello-ish write.
    const raw = track(
      await new Promise<Socket>((resolve, reject) => {
        const s = tcpConnect({ port: gw.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    );
    let bytes = 0;
    raw.on('data', (c: Buffer) => (bytes += c.length));
    raw.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 1, 0]));
    await Promise.race([new Promise((r) => raw.once('close', r)), sleep(2000)]);
    expect(raw.destroyed).toBe(true);
    expect(bytes).toBe(0);
    expect(accepted.length).toBe(before);
    // Another address is served.
    const ok = track(await connectTls(gw.port, cert, '127.0.0.3'));
    expect(ok.authorized).toBe(true);
  });

  it('closes a TCP connection that never completes the handshake at the login deadline', async () => {
    const raw = track(
      await new Promise<Socket>((resolve, reject) => {
        const s = tcpConnect({ port: gw.port, host: '127.0.0.1' });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    );
    const opened = Date.now();
    await new Promise((r) => raw.once('close', r));
    const lived = Date.now() - opened;
    expect(lived).toBeGreaterThanOrEqual(LOGIN_TIMEOUT_MS - 100);
    expect(lived).toBeLessThan(LOGIN_TIMEOUT_MS + CLOSE_GRACE_MS + SLACK_MS);
  });

  describe('an unusable certificate or key stops startup with a ConfigError naming the key', () => {
    const configWith = (tls: { certFile: string | null; keyFile: string | null }) =>
      loadConfig({ env: {}, overrides: { server: { port: 0, tls } } });

    it.each([
      [
        'a missing certificate file',
        () => ({ certFile: join(dir, 'nope.pem'), keyFile }),
        'server.tls.certFile',
      ],
      [
        'a missing key file',
        () => ({ certFile, keyFile: join(dir, 'nope.pem') }),
        'server.tls.keyFile',
      ],
      [
        'a key that is not PEM',
        () => {
          const bad = join(dir, 'bad-key.pem');
          writeFileSync(bad, 'not a key');
          return { certFile, keyFile: bad };
        },
        'server.tls',
      ],
    ])('%s', async (_what, tls, key) => {
      const config = configWith(tls());
      let error: unknown;
      try {
        createLonglinkServer(config);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).key).toBe(key);
      expect((error as ConfigError).message).toContain(`invalid config: ${key}: `);
      // The gateway factory fails the same way, before Nest starts.
      await expect(createGateway({ config })).rejects.toBeInstanceOf(ConfigError);
    });

    it('refuses a certificate without a key (half a TLS setup would serve plain TCP)', () => {
      expect(() => configWith({ certFile, keyFile: null })).toThrow(
        /invalid config: server\.tls\.keyFile: certFile and keyFile must be set together/,
      );
    });
  });
});
