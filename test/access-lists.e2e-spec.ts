import { Socket, connect } from 'node:net';
import { LonglinkConfigOverrides } from '../src/config/config.loader';
import { SessionService } from '../src/session/session.service';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestGateway, startGateway } from './support/test-gateway';

const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

interface RawConnection {
  socket: Socket;
  /** Every byte the server sent. */
  received: () => Buffer;
  closed: Promise<void>;
}

/** A bare socket from a chosen loopback address (127.0.0.0/8 is all local on Linux). */
function connectFrom(port: number, localAddress: string): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    const closed = new Promise<void>((done) => socket.on('close', () => done()));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve({ socket, received: () => Buffer.concat(chunks), closed });
    });
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The server closes the socket at accept, before sending (or reading) a single byte. */
async function expectRefused(gw: TestGateway, localAddress: string): Promise<void> {
  const before = gw.server.connectionCount;
  const raw = await connectFrom(gw.port, localAddress);
  await within(raw.closed, 2000, 'expected the server to close the socket');
  expect(raw.received()).toHaveLength(0);
  expect(gw.server.connectionCount).toBe(before);
}

/** A socket from `localAddress` that the server admits and answers a HEARTBEAT on. */
async function expectAdmitted(gw: TestGateway, localAddress: string): Promise<void> {
  const raw = await connectFrom(gw.port, localAddress);
  try {
    raw.socket.write(encodeFrame(Op.HEARTBEAT, 9));
    const reply = await within(
      new Promise<Buffer>((resolve) => {
        const check = () => {
          const bytes = raw.received();
          if (bytes.length >= 16) resolve(bytes);
          else raw.socket.once('data', check);
        };
        check();
      }),
      2000,
      'expected a HEARTBEAT reply',
    );
    expect(reply.readUInt32BE(8)).toBe(HEARTBEAT_REPLY);
    expect(reply.readUInt32BE(12)).toBe(9);
  } finally {
    raw.socket.destroy();
  }
}

/** LOGIN as `uid` is answered ERROR access-denied (with the LOGIN's seq) and the connection closes. */
async function expectLoginDenied(gw: TestGateway, uid: string): Promise<void> {
  const c = await gw.client();
  const seq = c.send(Op.LOGIN, { token: await gw.token(uid) });
  const reply = await c.waitFor((f) => f.seq === seq);
  expect(reply.op).toBe(Op.ERROR);
  expect(reply.body).toEqual({ code: 'access-denied', message: expect.any(String) });
  await c.waitClosed();
  expect(gw.app.get(SessionService).isOnline(uid)).toBe(false);
}

async function expectLoginAdmitted(gw: TestGateway, uid: string): Promise<void> {
  const c = await gw.loggedIn(uid);
  expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
  expect(gw.app.get(SessionService).isOnline(uid)).toBe(true);
  expect(c.isClosed).toBe(false);
}

function withGateway(overrides: LonglinkConfigOverrides): () => TestGateway {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway(overrides);
  });
  afterAll(() => gw.close());
  return () => gw;
}

describe('access lists', () => {
  describe('ipBlacklist [127.0.0.2/32]', () => {
    const gw = withGateway({ access: { ipBlacklist: ['127.0.0.2/32'] } });

    it('closes a connection from a blacklisted IP without sending a byte', async () => {
      await expectRefused(gw(), '127.0.0.2');
    });

    it('refuses a blacklisted IP even after it writes a valid frame', async () => {
      const raw = await connectFrom(gw().port, '127.0.0.2');
      raw.socket.write(encodeFrame(Op.HEARTBEAT, 1));
      await within(raw.closed, 2000, 'expected the server to close the socket');
      expect(raw.received()).toHaveLength(0);
    });

    it('refuses it at the handle, before the transport ever sees a connection', async () => {
      expect(gw().server.refusesAtHandle).toBe(true);
      let seen = 0;
      gw().server.on('connection', (conn) => {
        if (conn.remoteAddress === '127.0.0.2') seen++;
      });
      await expectRefused(gw(), '127.0.0.2');
      expect(seen).toBe(0);
    });

    it('admits other IPs', async () => {
      await expectAdmitted(gw(), '127.0.0.1');
      await expectAdmitted(gw(), '127.0.0.5');
      await expectLoginAdmitted(gw(), 'alice');
    });
  });

  describe('ipWhitelist [127.0.0.1/32]', () => {
    const gw = withGateway({ access: { ipWhitelist: ['127.0.0.1/32'] } });

    it('closes a connection from an IP outside the whitelist without sending a byte', async () => {
      await expectRefused(gw(), '127.0.0.3');
    });

    it('admits the whitelisted IP', async () => {
      await expectAdmitted(gw(), '127.0.0.1');
      await expectLoginAdmitted(gw(), 'alice');
    });
  });

  describe('ipBlacklist over ipWhitelist', () => {
    const gw = withGateway({
      access: { ipWhitelist: ['127.0.0.0/24'], ipBlacklist: ['127.0.0.6'] },
    });

    it('refuses a blacklisted IP inside a whitelisted range', async () => {
      await expectRefused(gw(), '127.0.0.6');
      await expectAdmitted(gw(), '127.0.0.7');
    });
  });

  describe('userBlacklist [mallory]', () => {
    const gw = withGateway({ access: { userBlacklist: ['mallory'] } });

    it('answers LOGIN of a blacklisted user with ERROR access-denied and closes', async () => {
      await expectLoginDenied(gw(), 'mallory');
    });

    it('lets other users log in', async () => {
      await expectLoginAdmitted(gw(), 'alice');
      await expectLoginAdmitted(gw(), 'bob');
    });
  });

  describe('userWhitelist [alice]', () => {
    const gw = withGateway({ access: { userWhitelist: ['alice'] } });

    it('lets a whitelisted user log in', async () => {
      await expectLoginAdmitted(gw(), 'alice');
    });

    it('answers LOGIN of a user outside the whitelist with ERROR access-denied and closes', async () => {
      await expectLoginDenied(gw(), 'bob');
    });

    it('does not let a refused login disturb the whitelisted session', async () => {
      const alice = await gw().loggedIn('alice');
      await expectLoginDenied(gw(), 'bob');
      expect((await alice.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
      expect(alice.isClosed).toBe(false);
    });
  });
});
