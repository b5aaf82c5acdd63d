/**
 * longlink frames over WebSocket for the generator: one frame per binary
 * message (docs/PROTOCOL.md), so a batch written at once is split at the frame
 * headers and sent message by message; each message read is handed on whole.
 */
import { Agent, ClientRequestArgs } from 'node:http';
import { NetConnectOpts, createConnection } from 'node:net';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { LocalEndpoint } from '../addresses';
import { OnRead } from './tcp';

/** An http.Agent whose one connection binds a chosen source address and port (see ../addresses). */
class LocalEndpointAgent extends Agent {
  constructor(private readonly local: LocalEndpoint) {
    super({ keepAlive: false });
  }

  createConnection(options: ClientRequestArgs): Duplex {
    return createConnection({
      ...options,
      localAddress: this.local.address,
      localPort: this.local.port || undefined,
    } as NetConnectOpts);
  }
}

/** What a longlink link writes to and closes, whichever the transport. */
export interface Wire {
  write(bytes: Buffer): void;
  destroy(): void;
  onClose(fn: () => void): void;
}

export function connectWs(
  port: number,
  local: LocalEndpoint | undefined,
  conn: { onRead: OnRead },
): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, {
      perMessageDeflate: false,
      agent: local ? new LocalEndpointAgent(local) : undefined,
    });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer) => conn.onRead(data));
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => undefined);
      // Nagle off, as on the TCP wire.
      (ws as unknown as { _socket?: { setNoDelay(on: boolean): void } })._socket?.setNoDelay(true);
      resolve({
        write(bytes) {
          for (let at = 0; at < bytes.length;) {
            const length = bytes.readUInt32BE(at);
            ws.send(bytes.subarray(at, at + length), { binary: true });
            at += length;
          }
        },
        destroy: () => ws.terminate(),
        onClose: (fn) => ws.once('close', fn),
      });
    });
  });
}
