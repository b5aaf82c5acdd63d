import { Socket, connect } from 'node:net';
import { LocalEndpoint } from '../addresses';

/**
 * Every generator socket reads into this one buffer (net's `onread` option):
 * no Buffer and no stream event per read, and no per-socket read buffer for
 * tens of thousands of idle clients. Safe because each read is consumed
 * synchronously: the codecs copy what they keep (a split frame) before returning.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Receives each read: the bytes are valid only during the call. */
export type OnRead = (chunk: Buffer) => void;

/**
 * Connects to 127.0.0.1:port from `local` (a 127.0.0.x source address and port),
 * Nagle off; reads go to `conn.onRead`, which the caller may replace at any time.
 */
export function connectTcp(
  port: number,
  local: LocalEndpoint | undefined,
  conn: { onRead: OnRead },
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      port,
      host: '127.0.0.1',
      localAddress: local?.address,
      localPort: local?.port || undefined,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (bytes: number, buf: Uint8Array) => {
          conn.onRead((buf as Buffer).subarray(0, bytes));
          return true;
        },
      },
    });
    const fail = (err: Error) => reject(err);
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** Rejects when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** Work a client defers to the end of the event-loop turn (acks and refills). */
export interface TurnEnd {
  turnQueued: boolean;
  endTurn(): void;
}

let turnQueue: TurnEnd[] = [];
let turnScheduled = false;

function runTurnEnd(): void {
  turnScheduled = false;
  const items = turnQueue;
  turnQueue = [];
  for (let i = 0; i < items.length; i++) {
    items[i].turnQueued = false;
    items[i].endTurn();
  }
}

/**
 * Runs `item.endTurn()` once after every read of this event-loop turn was
 * handled (setImmediate runs after the poll phase): the acks and new sends of
 * all those reads leave in one write per socket, as the servers batch theirs.
 */
export function atTurnEnd(item: TurnEnd): void {
  if (item.turnQueued) return;
  item.turnQueued = true;
  turnQueue.push(item);
  if (!turnScheduled) {
    turnScheduled = true;
    setImmediate(runTurnEnd);
  }
}
