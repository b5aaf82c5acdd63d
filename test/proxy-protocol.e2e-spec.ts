import { mkdtempSync, rmSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { TLSSocket, connect as tlsConnect } from 'node:tls';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { LonglinkConnection } from '../src/transport/connection';
import { FrameDecoder, encodeFrame, encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { Endpoint, proxyV1, proxyV2 } from './support/proxy-header';
import { forgedToken } from './support/forged-token';
import { RawFrame, RawPeer } from './support/raw-peer';
import { selfSignedCert } from './support/self-signed-cert';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

/**
 * The PROXY protocol on the TCP listener (server.proxyProtocol, trustedProxies): behind a
 * load balancer, the address a trusted balancer's header names is the client's for every
 * per-IP check (lists, bans, caps); anything else at that stage is closed before any PDU.
 * The balancer is 127.0.0.10 (a loopback source address); the clients it names are
 * documentation addresses that only ever appear inside headers.
 */

const PROXY = '127.0.0.10';
const STRANGER = '127.0.0.11';
const HEADER_TIMEOUT_MS = 400;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;

let nextPort = 40000;
/** A client endpoint with a port no other test uses, to find its connection on the server. */
const client = (address: string): Endpoint => ({ address, port: nextPort++ });

/** A raw TCP peer (the balancer, or someone else) that records what the gateway sends. */
class Peer extends RawPeer {
  async heartbeat(): Promise<void> {
    expect((await this.request(Op.HEARTBEAT))?.op).toBe(HEARTBEAT_REPLY);
  }

  /** The gateway closes the socket without sending a byte, whatever else is written. */
  async closedSilently(withinMs = 2000): Promise<void> {
    if (!this.closed && !this.socket.destroyed) this.socket.write(encodeFrame(Op.HEARTBEAT, 99));
    await Promise.race([this.done, sleep(withinMs)]);
    expect(this.closed).toBe(true);
    expect(this.bytes).toBe(0);
  }
}

/** A gateway for one describe block, with every connection it accepts recorded. */
function withGateway(overrides: LonglinkConfigOverrides) {
  const t = { peers: [] as Peer[], conns: [] as LonglinkConnection[] } as {
    gw: TestGateway;
    peers: Peer[];
    conns: LonglinkConnection[];
    open(from: string, first?: Buffer): Promise<Peer>;
    /** The server side of the connection whose client port is `port`. */
    connOf(port: number): LonglinkConnection | undefined;
    refusals(): Record<string, number>;
  };
  beforeAll(async () => {
    t.gw = await startGateway(overrides);
    t.gw.server.on('connection', (conn) => t.conns.push(conn));
  });
  afterEach(() => {
    for (const p of t.peers.splice(0)) p.destroy();
  });
  afterAll(() => t.gw.close());
  t.open = async (from, first) => {
    const peer = await Peer.open(t.gw.port, from, first);
    t.peers.push(peer);
    return peer;
  };
  t.connOf = (port) => t.conns.find((c) => c.remotePort === port);
  t.refusals = () => Object.fromEntries(t.gw.server.stats.proxyRefusals);
  return t;
}

describe('PROXY protocol', () => {
  describe('v1, required, from a trusted balancer', () => {
    const t = withGateway({
      server: {
        proxyProtocol: 'v1',
        trustedProxies: [PROXY],
        proxyHeaderTimeoutMs: HEADER_TIMEOUT_MS,
      },
      access: { ipBlacklist: ['203.0.113.66', '2001:db8::66'] },
    });

    it('takes the address and port the header names as the client’s', async () => {
      const alice = client('203.0.113.7');
      const peer = await t.open(PROXY, proxyV1(alice));
      await peer.heartbeat();
      expect(t.connOf(alice.port)?.remoteAddress).toBe('203.0.113.7');
    });

    it('refuses a blacklisted client behind the balancer and admits the others (IPv4 and IPv6)', async () => {
      await (await t.open(PROXY, proxyV1(client('203.0.113.66')))).closedSilently();
      await (await t.open(PROXY, proxyV1(client('2001:db8::66')))).closedSilently();
      // The blacklist matched the client, not the balancer: the same balancer's other clients get in.
      const v4 = client('203.0.113.8');
      await (await t.open(PROXY, proxyV1(v4))).heartbeat();
      // A non-canonical IPv6 text is keyed canonically (bans and lists match it).
      const v6 = { address: '2001:DB8:0::7', port: nextPort++ };
      await (await t.open(PROXY, proxyV1(v6))).heartbeat();
      expect(t.connOf(v6.port)?.remoteAddress).toBe('2001:db8::7');
      await (
        await t.open(PROXY, proxyV1({ address: '2001:0db8::66', port: nextPort++ }))
      ).closedSilently();
    });

    it('does not lose a LOGIN sent in the same segment as the header', async () => {
      const bob = client('203.0.113.9');
      const login = encodeJsonFrame(Op.LOGIN, 1, { token: await t.gw.token('proxied-bob') });
      const peer = await t.open(PROXY, Buffer.concat([proxyV1(bob), login]));
      await until(() => peer.frames.length > 0 || peer.closed, 'the LOGIN reply');
      expect(peer.frames[0]).toEqual({ op: LOGIN_REPLY, seq: 1, code: undefined });
      expect(t.connOf(bob.port)?.user?.uid).toBe('proxied-bob');
    });

    it('reads a header split over several TCP segments', async () => {
      const carol = client('203.0.113.10');
      const peer = await t.open(PROXY);
      const header = proxyV1(carol);
      for (const piece of [header.subarray(0, 1), header.subarray(1, 7), header.subarray(7)]) {
        peer.socket.write(piece);
        await sleep(30);
      }
      await peer.heartbeat();
      expect(t.connOf(carol.port)?.remoteAddress).toBe('203.0.113.10');
    });

    it('takes PROXY UNKNOWN as the balancer’s own connection', async () => {
      const peer = await t.open(PROXY, proxyV1(null));
      await peer.heartbeat();
      expect(t.conns.at(-1)?.remoteAddress).toBe(PROXY);
    });

    it('closes before any PDU: no header, a v2 header, a malformed or oversized one', async () => {
      const before = t.refusals();
      await (await t.open(PROXY, encodeFrame(Op.HEARTBEAT, 1))).closedSilently();
      await (await t.open(PROXY, proxyV2(client('203.0.113.11')))).closedSilently();
      const bad = Buffer.from('PROXY TCP4 203.0.113.1 127.0.0.1 99999 7400\r\n');
      await (await t.open(PROXY, bad)).closedSilently();
      await (await t.open(PROXY, Buffer.from(`PROXY UNKNOWN ${'x'.repeat(200)}`))).closedSilently();
      const after = t.refusals();
      const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      expect(
        ['missing-header', 'wrong-version', 'bad-header', 'header-too-large'].map(delta),
      ).toEqual([1, 1, 1, 1]);
    });

    it('refuses a peer that is not a trusted balancer at the handle, header or not', async () => {
      expect(t.gw.server.refusesAtHandle).toBe(true);
      const count = t.conns.length;
      await (await t.open(STRANGER, proxyV1(client('203.0.113.12')))).closedSilently();
      await (await t.open(STRANGER, encodeFrame(Op.HEARTBEAT, 1))).closedSilently();
      expect(t.conns.length).toBe(count);
      expect(t.refusals()['untrusted-peer']).toBeGreaterThanOrEqual(2);
    });

    it('closes a header not complete within proxyHeaderTimeoutMs; until then it is no connection', async () => {
      const count = t.gw.server.connectionCount;
      const startedAt = Date.now();
      const dribbler = await t.open(PROXY, Buffer.from('PROXY TCP4 203.0.'));
      const timeouts = t.refusals()['header-timeout'] ?? 0;
      const silent = await t.open(PROXY);
      await sleep(HEADER_TIMEOUT_MS / 2);
      dribbler.socket.write('1');
      expect(t.gw.server.connectionCount).toBe(count);
      await Promise.race([Promise.all([dribbler.done, silent.done]), sleep(3000)]);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 50);
      expect([dribbler.closed, dribbler.bytes, silent.closed, silent.bytes]).toEqual([
        true,
        0,
        true,
        0,
      ]);
      expect(t.refusals()['header-timeout']).toBe(timeouts + 2);
      expect(t.gw.server.connectionCount).toBe(count);
    });
  });

  describe('v2, required: the failed-login ban and the per-IP caps act on the client', () => {
    const MAX_FAILED = 3;
    const t = withGateway({
      server: { proxyProtocol: 'v2', trustedProxies: [PROXY], maxConnectionsPerIp: 3 },
      auth: { maxFailedLogins: MAX_FAILED, failedLoginBanMs: 60_000 },
    });

    it.each([
      ['IPv4', '203.0.113.66', '203.0.113.7'],
      ['IPv6', '2001:db8::66', '2001:db8::7'],
    ])(
      'bans a guesser behind the balancer (%s) and no one else behind it',
      async (_family, guesser, other) => {
        // A client of the same balancer, logged in before the attack.
        const bystander = await t.open(PROXY, proxyV2(client(other)));
        expect((await bystander.login(await t.gw.token(`bystander-${other}`)))?.op).toBe(
          LOGIN_REPLY,
        );
        const attacker = await t.open(PROXY, proxyV2(client(guesser)));
        const codes: (string | undefined)[] = [];
        for (let i = 0; i < MAX_FAILED; i++) {
          codes.push((await attacker.login(await forgedToken('victim')))?.code);
        }
        expect(codes).toEqual(['invalid-token', 'invalid-token', 'ip-banned']);
        await attacker.done;
        // The guesser's address is refused at once, even with a valid token ...
        const again = await t.open(PROXY, proxyV2(client(guesser)));
        await again.closedSilently();
        // ... while the balancer and its other clients are not.
        await bystander.heartbeat();
        const fresh = await t.open(PROXY, proxyV2(client(other)));
        expect((await fresh.login(await t.gw.token(`fresh-${other}`)))?.op).toBe(LOGIN_REPLY);
        const third = client(guesser.replace('66', '67'));
        await (await t.open(PROXY, proxyV2(third))).heartbeat();
        expect(t.connOf(third.port)?.remoteAddress).toBe(third.address);
      },
    );

    it('counts maxConnectionsPerIp per client, not per balancer', async () => {
      const open = async (address: string) => t.open(PROXY, proxyV2(client(address)));
      for (const address of ['203.0.113.20', '203.0.113.21']) {
        for (let i = 0; i < 3; i++) await (await open(address)).heartbeat();
      }
      await (await open('203.0.113.20')).closedSilently();
      await (await open('203.0.113.22')).heartbeat();
    });

    it('takes LOCAL (the balancer’s health check) as the balancer’s own connection', async () => {
      const peer = await t.open(PROXY, proxyV2(null));
      await peer.heartbeat();
      expect(t.conns.at(-1)?.remoteAddress).toBe(PROXY);
    });

    it('skips TLVs, and keeps the frames after them', async () => {
      const dave = client('203.0.113.30');
      const tlvs = Buffer.from('0400056c6f6e676c', 'hex'); // PP2_TYPE_NOOP, 5 bytes
      const login = encodeJsonFrame(Op.LOGIN, 1, { token: await t.gw.token('tlv-dave') });
      const peer = await t.open(PROXY, Buffer.concat([proxyV2(dave, tlvs), login]));
      await until(() => peer.frames.length > 0 || peer.closed, 'the LOGIN reply');
      expect(peer.frames[0]?.op).toBe(LOGIN_REPLY);
      expect(t.connOf(dave.port)?.remoteAddress).toBe('203.0.113.30');
    });

    it('closes a v1 header before any PDU', async () => {
      await (await t.open(PROXY, proxyV1(client('203.0.113.31')))).closedSilently();
    });
  });

  describe('auto: optional, either version, believed only from a trusted balancer', () => {
    const t = withGateway({
      server: { proxyProtocol: 'auto', trustedProxies: [PROXY] },
      access: { ipBlacklist: ['127.0.0.12', '203.0.113.66'] },
    });

    it('takes a trusted balancer’s connection without a header as its own', async () => {
      const peer = await t.open(PROXY);
      await peer.heartbeat();
      expect(t.conns.at(-1)?.remoteAddress).toBe(PROXY);
    });

    it('takes either version from a trusted balancer', async () => {
      const a = client('203.0.113.40');
      const b = client('2001:db8::40');
      await (await t.open(PROXY, proxyV1(a))).heartbeat();
      await (await t.open(PROXY, proxyV2(b))).heartbeat();
      expect(t.connOf(a.port)?.remoteAddress).toBe(a.address);
      expect(t.connOf(b.port)?.remoteAddress).toBe(b.address);
      await (await t.open(PROXY, proxyV2(client('203.0.113.66')))).closedSilently();
    });

    it('serves any other peer as an ordinary client, under its own address', async () => {
      const peer = await t.open(STRANGER);
      await peer.heartbeat();
      expect(t.conns.at(-1)?.remoteAddress).toBe(STRANGER);
    });

    it('closes a PROXY header from a peer it does not trust before any PDU', async () => {
      const before = t.refusals()['untrusted-peer'] ?? 0;
      const frame = encodeFrame(Op.HEARTBEAT, 1);
      await (
        await t.open(STRANGER, Buffer.concat([proxyV1(client('203.0.113.41')), frame]))
      ).closedSilently();
      await (
        await t.open(STRANGER, Buffer.concat([proxyV2(client('203.0.113.42')), frame]))
      ).closedSilently();
      // Split before the signature is complete: still judged before the frame decoder answers.
      const split = await t.open(STRANGER, Buffer.from('PROX'));
      await sleep(30);
      split.socket.write(Buffer.concat([Buffer.from('Y UNKNOWN\r\n'), frame]));
      await split.closedSilently();
      expect(t.refusals()['untrusted-peer']).toBe(before + 3);
    });

    it('still refuses a blacklisted peer at the handle', async () => {
      const count = t.conns.length;
      await (await t.open('127.0.0.12')).closedSilently();
      expect(t.conns.length).toBe(count);
    });
  });

  describe('v2 with TLS: the header comes before the handshake', () => {
    let dir: string;
    let cert: Buffer;
    const overrides: LonglinkConfigOverrides = {
      server: { proxyProtocol: 'v2', trustedProxies: [PROXY] },
    };
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'longlink-proxy-tls-'));
      const made = selfSignedCert(dir);
      cert = made.cert;
      const { certFile, keyFile } = made;
      overrides.server = { ...overrides.server, tls: { certFile, keyFile } };
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const t = withGateway(overrides);

    /**
     * A TLS client from the balancer's address whose first bytes are `header`: written on
     * its own, or in the same write as the ClientHello (TLS over a stream that prepends it).
     */
    async function tlsBehindProxy(header: Buffer, together: boolean): Promise<TLSSocket> {
      const tcp = await new Promise<Socket>((resolve, reject) => {
        const s = connect({ port: t.gw.port, host: '127.0.0.1', localAddress: PROXY });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
      let transport: Duplex = tcp;
      if (!together) tcp.write(header);
      else {
        let first: Buffer | null = header;
        transport = new Duplex({
          read() {},
          write(chunk: Buffer, _encoding, done) {
            tcp.write(first ? Buffer.concat([first, chunk]) : chunk, done);
            first = null;
          },
          final(done) {
            tcp.end(done);
          },
        });
        tcp.on('data', (chunk: Buffer) => transport.push(chunk));
        tcp.on('end', () => transport.push(null));
        tcp.on('close', () => transport.destroy());
      }
      const tls = tlsConnect({ socket: transport, servername: 'localhost', ca: cert });
      tls.on('error', () => undefined);
      await new Promise<void>((resolve) => tls.once('secureConnect', () => resolve()));
      return tls;
    }

    it.each([
      ['written before the handshake', false],
      ['in the same segment as the ClientHello', true],
    ])(
      'reads the header on the raw socket (%s), then serves TLS under the client’s address',
      async (_how, together) => {
        const erin = client('203.0.113.50');
        const tls = await tlsBehindProxy(proxyV2(erin), together);
        const frames: RawFrame[] = [];
        const decoder = new FrameDecoder(
          { onFrame: (op, seq) => frames.push({ op, seq }), onFrameError: () => undefined },
          1 << 20,
        );
        tls.on('data', (chunk: Buffer) => decoder.push(chunk));
        tls.write(encodeJsonFrame(Op.LOGIN, 1, { token: await t.gw.token('tls-erin') }));
        await until(() => frames.length > 0, 'the LOGIN reply over TLS');
        expect(frames[0].op).toBe(LOGIN_REPLY);
        expect(t.connOf(erin.port)?.remoteAddress).toBe('203.0.113.50');
        tls.destroy();
      },
    );
  });
});
