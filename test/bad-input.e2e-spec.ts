import { connect } from 'node:net';
import { LonglinkConnection } from '../src/transport/connection';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { ReceivedFrame, TestClient } from './support/test-client';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

const MAX_FRAME_BYTES = 4096;
const UNKNOWN_OP = 4242;

/** A bare 16-byte header with every field under the test's control. */
function header(fields: { plen: number; hlen?: number; ver?: number; op?: number; seq?: number }) {
  const buf = Buffer.alloc(16);
  buf.writeUInt32BE(fields.plen >>> 0, 0);
  buf.writeUInt16BE(fields.hlen ?? 16, 4);
  buf.writeUInt16BE(fields.ver ?? 1, 6);
  buf.writeUInt32BE((fields.op ?? Op.HEARTBEAT) >>> 0, 8);
  buf.writeUInt32BE((fields.seq ?? 7) >>> 0, 12);
  return buf;
}

describe('malformed and unexpected input', () => {
  let gw: TestGateway;
  /** A well-behaved, logged-in client that must never notice the others misbehaving. */
  let bystander: TestClient;
  const accepted: LonglinkConnection[] = [];
  const disconnected: LonglinkConnection[] = [];
  /** Clients opened by the current test; closed after it. */
  let opened: TestClient[] = [];
  /** Local ports, recorded while open (a destroyed socket forgets its port). */
  const localPorts = new Map<TestClient, number>();

  const track = (c: TestClient) => {
    opened.push(c);
    localPorts.set(c, c.socket.localPort!);
    return c;
  };
  const client = async () => track(await gw.client());
  const loggedIn = async (uid: string) => track(await gw.loggedIn(uid));

  /** The newest server-side connection from a client-side local port (ports get reused). */
  const serverSide = (localPort: number | undefined) => {
    for (let i = accepted.length - 1; i >= 0; i--) {
      if (accepted[i].remotePort === localPort) return accepted[i];
    }
    return undefined;
  };

  async function expectHealthy(c: TestClient) {
    expect(c.isClosed).toBe(false);
    const reply = await c.request(Op.HEARTBEAT);
    expect(reply.op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
  }

  /** ERROR {code} with seq 0, then the server closes the connection. */
  async function expectBrokenStream(c: TestClient, code: string) {
    const conn = serverSide(localPorts.get(c));
    expect(conn).toBeDefined();
    const error = await c.waitForOp(Op.ERROR);
    expect(error.seq).toBe(0);
    expect(error.body).toEqual({ code, message: expect.any(String) });
    await c.waitClosed();
    // The ERROR is the last thing sent: nothing after the broken header is answered.
    expect(c.frames.filter((f) => f.op === Op.ERROR)).toHaveLength(1);
    expect(c.frames[c.frames.length - 1]).toBe(error);
    await until(() => disconnected.includes(conn!), 'the server-side close');
    expect(conn!.closeReason).toBe(code);
  }

  /** ERROR {code} carrying the frame's seq; the connection stays usable. */
  async function expectRecoverable(
    c: TestClient,
    seq: number,
    code: string,
  ): Promise<ReceivedFrame> {
    const error = await c.waitFor((f) => f.seq === seq);
    expect(error.op).toBe(Op.ERROR);
    expect(error.body).toEqual({ code, message: expect.any(String) });
    await expectHealthy(c);
    return error;
  }

  beforeAll(async () => {
    gw = await startGateway({ server: { maxFrameBytes: MAX_FRAME_BYTES } });
    gw.server.on('connection', (conn) => accepted.push(conn));
    gw.server.on('disconnect', (conn) => disconnected.push(conn));
    bystander = await gw.loggedIn('bystander');
  });

  afterEach(async () => {
    for (const c of opened) c.close();
    opened = [];
    // Only the bystander is left, so each test starts from a known connection count.
    await until(() => gw.server.connectionCount === 1, 'test clients to be gone');
    await expectHealthy(bystander);
  });

  afterAll(() => gw.close());

  describe('a broken byte stream is answered with ERROR seq 0 and closed', () => {
    it('closes a frame whose length is below the header size (frame-too-small)', async () => {
      const c = await client();
      c.sendRaw(header({ plen: 8 }));
      await expectBrokenStream(c, 'frame-too-small');
    });

    it('closes a frame whose length is zero (frame-too-small)', async () => {
      const c = await loggedIn('zero-length');
      c.sendRaw(header({ plen: 0 }));
      await expectBrokenStream(c, 'frame-too-small');
    });

    it('rejects a frame above maxFrameBytes from its header alone (frame-too-large)', async () => {
      const c = await client();
      // Only the header: the server must not wait for the 4081 body bytes it announces.
      c.sendRaw(header({ plen: MAX_FRAME_BYTES + 1 }));
      await expectBrokenStream(c, 'frame-too-large');
    });

    it('rejects a 4 GiB length announced by a logged-in client (frame-too-large)', async () => {
      const c = await loggedIn('huge-length');
      c.sendRaw(header({ plen: 0xffff_ffff }));
      await expectBrokenStream(c, 'frame-too-large');
    });

    it('accepts a frame of exactly maxFrameBytes', async () => {
      const c = await loggedIn('exact-size');
      const body = Buffer.alloc(MAX_FRAME_BYTES - 16, 0x20); // JSON whitespace…
      body.write('{}', 0);
      const frame = encodeFrame(Op.HEARTBEAT, 99, body);
      expect(frame).toHaveLength(MAX_FRAME_BYTES);
      c.sendRaw(frame);
      const reply = await c.waitFor((f) => f.seq === 99);
      expect(reply.op).toBe((Op.HEARTBEAT | REPLY_FLAG) >>> 0);
    });

    it('closes a frame whose header length is not 16 (bad-header-length)', async () => {
      const c = await client();
      c.sendRaw(header({ plen: 16, hlen: 20 }));
      await expectBrokenStream(c, 'bad-header-length');
    });

    it('closes a frame of an unknown protocol version (unsupported-version)', async () => {
      const c = await client();
      c.sendRaw(header({ plen: 16, ver: 2 }));
      await expectBrokenStream(c, 'unsupported-version');
    });

    it('detects a bad header that arrives one byte at a time', async () => {
      const c = await client();
      const bytes = header({ plen: 16, ver: 9 });
      for (const byte of bytes) {
        c.sendRaw(Buffer.from([byte]));
        await sleep(1);
      }
      await expectBrokenStream(c, 'unsupported-version');
    });

    it('ignores whatever follows a broken header in the same write', async () => {
      const c = await loggedIn('trailing');
      c.sendRaw(Buffer.concat([header({ plen: 16, hlen: 0 }), encodeFrame(Op.HEARTBEAT, 5)]));
      await expectBrokenStream(c, 'bad-header-length');
    });
  });

  describe('a bad PDU in a sound stream is answered with ERROR carrying its seq', () => {
    it('answers an unknown op after login with unknown-op and stays open', async () => {
      const c = await loggedIn('unknown-op');
      const seq = c.send(UNKNOWN_OP, { any: 'thing' });
      await expectRecoverable(c, seq, 'unknown-op');
    });

    it('answers a body that is not JSON with bad-json and stays open', async () => {
      const c = await loggedIn('not-json');
      c.sendRaw(encodeFrame(Op.HEARTBEAT, 41, '{"unterminated": '));
      await expectRecoverable(c, 41, 'bad-json');
    });

    it('answers a body that is not valid UTF-8 with bad-json and stays open', async () => {
      const c = await loggedIn('not-utf8');
      // A quoted string whose content is a lone continuation byte and an invalid lead byte.
      c.sendRaw(encodeFrame(Op.HEARTBEAT, 42, Buffer.from([0x22, 0x80, 0xff, 0x22])));
      const error = await expectRecoverable(c, 42, 'bad-json');
      expect(error.body.message).toMatch(/UTF-8/);
    });

    it('answers a LOGIN body with a non-string token with bad-request naming token', async () => {
      const c = await client();
      const reply = await c.request(Op.LOGIN, { token: 5 });
      expect(reply.op).toBe(Op.ERROR);
      expect(reply.body).toEqual({
        code: 'bad-request',
        message: expect.stringMatching(/^token: /),
      });
      await expectHealthy(c);
      // The same connection can still log in properly.
      const login = await c.login(await gw.token('retry-after-bad-request'));
      expect(login.op).toBe((Op.LOGIN | REPLY_FLAG) >>> 0);
      expect(login.body.uid).toBe('retry-after-bad-request');
    });

    // Regression: the pipe once reported the decorator declared last (@MaxLength), so {token: 5}
    // was answered "token must be shorter than or equal to 8192 characters".
    it('explains a non-string token as a type error, not a length error', async () => {
      const c = await client();
      for (const body of [{ token: 5 }, {}, { token: null }]) {
        const reply = await c.request(Op.LOGIN, body);
        expect(reply.body).toEqual({
          code: 'bad-request',
          message: 'token: token must be a string',
        });
      }
    });

    it('answers a known op before login with not-logged-in and stays open', async () => {
      const c = await client();
      const reply = await c.request(Op.LOGOUT);
      expect(reply.op).toBe(Op.ERROR);
      expect(reply.body).toEqual({ code: 'not-logged-in', message: expect.any(String) });
      await expectHealthy(c);
    });

    it('answers an unknown op before login with not-logged-in, not unknown-op', async () => {
      const c = await client();
      const seq = c.send(UNKNOWN_OP, {});
      await expectRecoverable(c, seq, 'not-logged-in');
    });

    it('keeps answering good frames that share a write with bad ones', async () => {
      const c = await loggedIn('mixed');
      c.sendRaw(
        Buffer.concat([
          encodeFrame(Op.HEARTBEAT, 101),
          encodeFrame(UNKNOWN_OP, 102),
          encodeFrame(Op.HEARTBEAT, 103, 'nope'),
          encodeFrame(Op.HEARTBEAT, 104),
        ]),
      );
      const answers = await Promise.all(
        [101, 102, 103, 104].map((s) => c.waitFor((f) => f.seq === s)),
      );
      expect(answers.map((f) => [f.seq, f.op, f.body?.code])).toEqual([
        [101, (Op.HEARTBEAT | REPLY_FLAG) >>> 0, undefined],
        [102, Op.ERROR, 'unknown-op'],
        [103, Op.ERROR, 'bad-json'],
        [104, (Op.HEARTBEAT | REPLY_FLAG) >>> 0, undefined],
      ]);
      expect(c.isClosed).toBe(false);
    });
  });

  describe('a connection that disappears in the middle of a frame', () => {
    async function cutMidFrame(bytes: Buffer) {
      const before = gw.server.connectionCount;
      const socket = connect({ host: '127.0.0.1', port: gw.port });
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      await until(() => serverSide(socket.localPort) !== undefined, 'the server to accept');
      const conn = serverSide(socket.localPort)!;
      expect(gw.server.connectionCount).toBe(before + 1);
      socket.write(bytes);
      await sleep(20); // let the server read the partial frame
      socket.destroy();
      await until(() => disconnected.includes(conn), 'the server-side close');
      expect(conn.closeReason).toBe('closed-mid-frame');
      expect(gw.server.connectionCount).toBe(before);
      // The server goes on serving: a new client logs in, the bystander still answers.
      const next = await loggedIn(`after-cut-${socket.localPort}`);
      await expectHealthy(next);
      await expectHealthy(bystander);
    }

    it('survives a close after half a body, and forgets the connection', async () => {
      const frame = encodeFrame(Op.HEARTBEAT, 3, JSON.stringify({ pad: 'x'.repeat(200) }));
      await cutMidFrame(frame.subarray(0, 16 + 50));
    });

    it('survives a close after half a header, and forgets the connection', async () => {
      await cutMidFrame(encodeFrame(Op.HEARTBEAT, 3).subarray(0, 8));
    });
  });
});
