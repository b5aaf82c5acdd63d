import { Socket, connect } from 'node:net';
import { encodeFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { TestGateway, startGateway } from './support/test-gateway';
import { sleep, until } from './support/wait';

const MAX_PER_IP = 5;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

class RawConnection {
  private chunks: Buffer[] = [];
  isClosed = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => this.chunks.push(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
  }

  /** Connects from `localAddress` (any 127.0.0.0/8 address is local on Linux). */
  static open(port: number, localAddress: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Sends a HEARTBEAT and resolves with the op of the first frame that comes back. */
  async heartbeat(seq: number, timeoutMs = 2000): Promise<number> {
    const start = this.received().length;
    this.socket.write(encodeFrame(Op.HEARTBEAT, seq));
    const deadline = Date.now() + timeoutMs;
    while (this.received().length < start + 16) {
      if (this.isClosed) throw new Error('closed before the HEARTBEAT reply');
      if (Date.now() > deadline) throw new Error(`no HEARTBEAT reply within ${timeoutMs} ms`);
      await sleep(5);
    }
    return this.received().readUInt32BE(start + 8);
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('per-IP connection cap (server.maxConnectionsPerIp 5)', () => {
  let gw: TestGateway;
  let open: RawConnection[] = [];

  async function connectFrom(localAddress: string): Promise<RawConnection> {
    const c = await RawConnection.open(gw.port, localAddress);
    open.push(c);
    return c;
  }

  /** Opens `n` connections from `localAddress` and checks each is served. */
  async function fill(localAddress: string, n: number): Promise<RawConnection[]> {
    const conns: RawConnection[] = [];
    for (let i = 0; i < n; i++) conns.push(await connectFrom(localAddress));
    for (const [i, c] of conns.entries()) expect(await c.heartbeat(i + 1)).toBe(HEARTBEAT_REPLY);
    return conns;
  }

  /** The server closes the socket at once, without a byte. */
  async function expectRefused(localAddress: string): Promise<void> {
    const before = gw.server.connectionCount;
    const c = await connectFrom(localAddress);
    await Promise.race([
      c.closed,
      sleep(2000).then(() => {
        throw new Error(`connection from ${localAddress} was not closed`);
      }),
    ]);
    expect(c.received()).toHaveLength(0);
    expect(gw.server.connectionCount).toBe(before);
  }

  beforeAll(async () => {
    gw = await startGateway({ server: { maxConnectionsPerIp: MAX_PER_IP } });
  });

  afterEach(async () => {
    for (const c of open) c.close();
    open = [];
    await until(() => gw.server.connectionCount === 0, 'all connections to close');
  });

  afterAll(() => gw.close());

  it('keeps 5 connections from one IP open and refuses the 6th without a byte', async () => {
    const five = await fill('127.0.0.1', MAX_PER_IP);
    await expectRefused('127.0.0.1');
    await expectRefused('127.0.0.1');
    // The admitted five are untouched by the refusals.
    for (const [i, c] of five.entries()) {
      expect(c.isClosed).toBe(false);
      expect(await c.heartbeat(100 + i)).toBe(HEARTBEAT_REPLY);
    }
    expect(gw.server.connectionCount).toBe(MAX_PER_IP);
  });

  it('admits a new connection once one of the five has closed', async () => {
    const five = await fill('127.0.0.1', MAX_PER_IP);
    await expectRefused('127.0.0.1');
    five[2].close();
    await until(() => gw.server.connectionCount === MAX_PER_IP - 1, 'the server to see the close');
    const replacement = await connectFrom('127.0.0.1');
    expect(await replacement.heartbeat(7)).toBe(HEARTBEAT_REPLY);
    // Full again.
    await expectRefused('127.0.0.1');
  });

  it('frees the slot of a connection the server itself closed', async () => {
    const five = await fill('127.0.0.1', MAX_PER_IP);
    // A broken header makes the server close the connection.
    five[0].socket.write(Buffer.alloc(16));
    await five[0].closed;
    await until(() => gw.server.connectionCount === MAX_PER_IP - 1, 'the server to see the close');
    const replacement = await connectFrom('127.0.0.1');
    expect(await replacement.heartbeat(7)).toBe(HEARTBEAT_REPLY);
  });

  it('counts each IP separately', async () => {
    await fill('127.0.0.1', MAX_PER_IP);
    await expectRefused('127.0.0.1');
    const others = await fill('127.0.0.4', MAX_PER_IP);
    await expectRefused('127.0.0.4');
    expect(gw.server.connectionCount).toBe(2 * MAX_PER_IP);
    // Closing one from 127.0.0.4 frees a slot there, not at 127.0.0.1.
    others[0].close();
    await until(() => gw.server.connectionCount === 2 * MAX_PER_IP - 1, 'the close');
    await expectRefused('127.0.0.1');
    expect(await (await connectFrom('127.0.0.4')).heartbeat(3)).toBe(HEARTBEAT_REPLY);
  });

  it('does not count refused connections against the cap', async () => {
    // Many refusals in a row, then the slots are still all there once the five close.
    const five = await fill('127.0.0.1', MAX_PER_IP);
    for (let i = 0; i < 10; i++) await expectRefused('127.0.0.1');
    for (const c of five) c.close();
    await until(() => gw.server.connectionCount === 0, 'the five to close');
    await fill('127.0.0.1', MAX_PER_IP);
    await expectRefused('127.0.0.1');
  });
});
