/**
 * Socket.IO driver, with the official client (socket.io-client over the
 * websocket transport only, one connection per client, no reconnection):
 * SEND is `emit('send', {to, clientMsgId, content}, ack)`; the server acks it
 * and emits 'msg' to the recipient with an ack callback, which the receiver
 * calls (the PUSH_ACK). Socket.IO drives heartbeats from the server (engine.io
 * ping/pong at the server's pingInterval), so heartbeat() does nothing here.
 * The library costs the generator more per message than the hand-made codecs:
 * its CPU is reported with every measurement.
 */
import { Agent, ClientRequestArgs } from 'node:http';
import { NetConnectOpts, createConnection } from 'node:net';
import { Duplex } from 'node:stream';
import { Socket, io } from 'socket.io-client';
import { LocalEndpoint } from '../addresses';
import { nowUs, stampString } from '../ascii';
import { Driver, IdleClient, LoadStats, PairClient, WindowedPair } from './driver';
import { withTimeout } from './tcp';

const CONNECT_TIMEOUT_MS = 30_000;

/** An http.Agent whose one connection binds a chosen source port (see ../addresses). */
class LocalPortAgent extends Agent {
  constructor(private readonly localPort: number) {
    super({ keepAlive: false });
  }

  /** Returned synchronously: the Agent then hands the socket to the request itself. */
  createConnection(options: ClientRequestArgs): Duplex {
    return createConnection({ ...options, localPort: this.localPort } as NetConnectOpts);
  }
}

interface DeliveredMsg {
  content: string;
}

export class SocketIoDriver implements Driver {
  readonly protocol = 'socketio';

  constructor(
    private readonly port: number,
    private readonly stats: LoadStats,
  ) {}

  async prepare(): Promise<number> {
    return 0;
  }

  private async connect(uid: string, local: LocalEndpoint | undefined): Promise<Socket> {
    const socket = io(`http://127.0.0.1:${this.port}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { uid },
      localAddress: local?.address,
      // engine.io passes `agent` (not localPort) on to ws: the agent binds the port.
      agent: local?.port ? new LocalPortAgent(local.port) : undefined,
    } as Parameters<typeof io>[1]);
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', (err) => reject(err));
        }),
        CONNECT_TIMEOUT_MS,
        'Socket.IO connect',
      );
    } catch (err) {
      socket.close();
      throw err;
    }
    return socket;
  }

  async idle(uid: string, local: LocalEndpoint): Promise<IdleClient> {
    const socket = await this.connect(uid, local);
    const stats = this.stats;
    let closing = false;
    socket.io.engine.on('ping', () => stats.heartbeatReplies++);
    socket.once('disconnect', () => {
      if (!closing) stats.dropped++;
    });
    return {
      heartbeat: () => undefined,
      close: () => {
        closing = true;
        socket.close();
      },
    };
  }

  async pair(index: number): Promise<PairClient> {
    const rx = await this.connect(`rx-${index}`, undefined);
    const tx = await this.connect(`tx-${index}`, undefined);
    return new SocketIoPair(tx, rx, `rx-${index}`, this.stats);
  }
}

class SocketIoPair extends WindowedPair {
  private counter = 0;
  private readonly onAck = (reply: unknown) => {
    this.acked++;
    this.stats.sendAcks++;
    if (reply === null || typeof reply !== 'object') this.stats.error(`send ack ${String(reply)}`);
    this.refill();
  };

  constructor(
    private readonly tx: Socket,
    private readonly rx: Socket,
    private readonly to: string,
    stats: LoadStats,
  ) {
    super(stats);
    rx.on('msg', (msg: DeliveredMsg, ack: () => void) => {
      ack();
      this.delivered++;
      stats.delivered++;
      if (stats.recording) {
        stats.latency(nowUs() - Number(msg.content));
      }
      this.refill();
    });
    for (const s of [tx, rx]) {
      s.once('disconnect', () => {
        if (!this.closing) stats.dropped++;
      });
    }
  }

  protected writeMessages(count: number): void {
    const content = stampString(nowUs());
    for (let m = 0; m < count; m++) {
      this.tx.emit(
        'send',
        { to: this.to, clientMsgId: String(++this.counter), content },
        this.onAck,
      );
    }
  }

  protected closeConnections(): void {
    this.tx.close();
    this.rx.close();
  }
}
