import { Server, Socket, connect, createServer } from 'node:net';

/**
 * A layer-4 load balancer for tests, as HAProxy or an NLB would sit in front
 * of several nodes: each client connection goes to the next backend that
 * accepts it (round robin); when a backend dies, its connections break and
 * reconnects land on the others.
 */
export class TcpBalancer {
  private next = 0;
  private readonly active = new Map<number, Set<Socket>>();

  private constructor(
    private readonly server: Server,
    readonly backends: number[],
  ) {}

  static async start(backends: number[]): Promise<TcpBalancer> {
    const server = createServer({ noDelay: true });
    const balancer = new TcpBalancer(server, backends);
    server.on('connection', (client: Socket) => void balancer.route(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return balancer;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /** Client connections currently proxied to `backend`. */
  connectionsTo(backend: number): number {
    return this.active.get(backend)?.size ?? 0;
  }

  async close(): Promise<void> {
    for (const sockets of this.active.values()) for (const s of sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async route(client: Socket): Promise<void> {
    client.pause();
    client.on('error', () => undefined);
    for (let tries = 0; tries < this.backends.length; tries++) {
      const backend = this.backends[this.next++ % this.backends.length];
      const upstream = await dial(backend);
      if (!upstream) continue;
      if (client.destroyed) return void upstream.destroy();
      const set = this.active.get(backend) ?? new Set<Socket>();
      this.active.set(backend, set);
      set.add(client);
      const end = () => {
        set.delete(client);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end);
      upstream.on('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      return;
    }
    client.destroy();
  }
}

function dial(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => {
      socket.off('error', onError);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    const onError = () => resolve(null);
    socket.once('error', onError);
  });
}
