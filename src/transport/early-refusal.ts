import { Server as NetServer } from 'node:net';

/** Decides at accept: a reason refuses the connection, null admits it. */
export type AcceptCheck = (remoteAddress: string) => string | null;

interface PeerOut {
  address?: string;
}

/** The parts of Node's internal TCP wrap this relies on; checked at install time. */
interface ClientHandle {
  getpeername(out: PeerOut): number;
  close(): void;
}

type OnConnection = (this: unknown, err: number, handle: ClientHandle | undefined) => void;

/**
 * Runs `check` on each accepted connection before Node wraps it in a Socket,
 * and closes the refused ones at the handle. Under a connect flood, building a
 * JavaScript Socket (stream state, event wiring) only to destroy it was about
 * half the cost of a refusal: 150,000 refused connects in 5 s took 51% of the
 * gateway's core that way and 26% this way (npm run abuse, connection-flood).
 *
 * It uses Node internals (`server._handle.onconnection`, the handle's
 * getpeername/close), as `maxConnections` does inside Node. Where they are not
 * what it expects it stands aside (`active` false, for good): the caller then
 * checks each Socket in its 'connection' handler, as before. Node ≥ 22.13 offers
 * `net.Server`'s `blockList` for the address part of this.
 *
 * The address here is the TCP peer's. Behind a load balancer (PROXY protocol) the
 * server's check is ProxyGate.atAccept: a trusted balancer passes unchecked (its
 * clients are checked by their own addresses once its header names them).
 */
export class EarlyRefusal {
  /** True while connections are checked here; false: check them on the Socket. */
  active = false;

  constructor(
    private readonly check: AcceptCheck,
    private readonly onRefused: (address: string, reason: string) => void,
  ) {}

  /** Call once the server listens (the handle exists from then on). */
  install(server: NetServer): void {
    const handle = (server as unknown as { _handle?: { onconnection?: unknown } })._handle;
    if (!handle || typeof handle.onconnection !== 'function') return;
    const original = handle.onconnection as OnConnection;
    /** False when the connection was refused (and its handle closed) here. */
    const admit = (err: number, client: ClientHandle | undefined): boolean => {
      if (!this.active || err || !client) return true;
      if (typeof client.getpeername !== 'function' || typeof client.close !== 'function') {
        this.active = false; // not the handle we know: leave every check to the Socket path
        return true;
      }
      const peer: PeerOut = {};
      client.getpeername(peer);
      const address = peer.address ?? 'unknown';
      const reason = this.check(address);
      if (reason === null) return true;
      client.close();
      this.onRefused(address, reason);
      return false;
    };
    handle.onconnection = function (this: unknown, err: number, client: ClientHandle | undefined) {
      if (admit(err, client)) original.call(this, err, client);
    } satisfies OnConnection;
    this.active = true;
  }
}
