import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { encodeFrame, encodeJsonFrame } from '../transport/frame.codec';
import { WebSocketStream } from './websocket.stream';

/** The parts of a ws WebSocket the stream uses, recording what it is asked. */
class FakeWs extends EventEmitter {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent: Buffer[] = [];
  closes: [number, string | undefined][] = [];
  terminated = 0;
  paused = false;
  send(data: Buffer): void {
    this.sent.push(data);
  }
  close(code: number, reason?: string): void {
    this.closes.push([code, reason]);
    this.readyState = WebSocket.CLOSING;
  }
  terminate(): void {
    this.terminated++;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

class FakeSocket extends EventEmitter {
  destroyed = false;
  writableNeedDrain = false;
  corked = 0;
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
  }
  setNoDelay(): void {}
}

function setup() {
  const ws = new FakeWs();
  const raw = new FakeSocket();
  const stream = new WebSocketStream(ws as unknown as WebSocket, raw as unknown as Socket);
  const events: string[] = [];
  const data: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => data.push(chunk));
  for (const e of ['end', 'close', 'drain', 'error'] as const) stream.on(e, () => events.push(e));
  return { ws, raw, stream, events, data };
}

describe('WebSocketStream', () => {
  it('sends each frame of a buffer as its own message, as views of that buffer (no copy)', () => {
    const { ws, raw, stream } = setup();
    const frames = [
      encodeJsonFrame(3, 1),
      encodeJsonFrame(17, 0, { a: 1 }),
      encodeFrame(5, 2, 'x'),
    ];
    const out = Buffer.concat(frames);
    expect(stream.write(out)).toBe(true);
    expect(ws.sent).toEqual(frames);
    for (const m of ws.sent) expect(m.buffer).toBe(out.buffer);
    expect(raw.corked).toBe(0);
  });

  it('sends a buffer holding one frame as it is', () => {
    const { ws, stream } = setup();
    const one = encodeJsonFrame(3, 1, { b: 2 });
    stream.write(one);
    expect(ws.sent[0]).toBe(one);
  });

  it('sends nothing once closing', () => {
    const { ws, stream } = setup();
    stream.end();
    expect(stream.write(encodeJsonFrame(3, 1))).toBe(false);
    expect(ws.sent).toEqual([]);
  });

  it('hands a binary message holding exactly one frame over as one chunk', () => {
    const { ws, data, events } = setup();
    const frame = encodeJsonFrame(3, 9, { c: 3 });
    ws.emit('message', frame, true);
    expect(data).toEqual([frame]);
    expect(events).toEqual([]);
  });

  it.each([
    ['text', Buffer.from('hi'), false, 1003, 'text-message'],
    ['short', Buffer.from([0, 0]), true, 1002, 'one-frame-per-message'],
    ['split', encodeJsonFrame(3, 1, { d: 4 }).subarray(0, 20), true, 1002, 'one-frame-per-message'],
    [
      'two frames',
      Buffer.concat([encodeJsonFrame(3, 1), encodeJsonFrame(3, 2)]),
      true,
      1002,
      'one-frame-per-message',
    ],
  ])('closes on a %s message', (_what, message, isBinary, code, reason) => {
    const { ws, data, events } = setup();
    ws.emit('message', message, isBinary);
    expect(ws.closes).toEqual([[code, reason]]);
    expect(data).toEqual([]);
    // Reported at once (the session ends now); later messages are dropped.
    expect(events).toEqual(['error']);
    ws.emit('message', encodeJsonFrame(3, 3), true);
    expect(data).toEqual([]);
    ws.emit('close', code, Buffer.from(reason));
    expect(events).toEqual(['error', 'close']);
  });

  it("maps the peer's close to end then close, and ours to close alone", () => {
    const peer = setup();
    peer.ws.emit('close', 1000, Buffer.alloc(0));
    expect(peer.events).toEqual(['end', 'close']);
    const ours = setup();
    ours.stream.end();
    expect(ours.ws.closes).toEqual([[1000, undefined]]);
    ours.ws.emit('close', 1000, Buffer.alloc(0));
    expect(ours.events).toEqual(['close']);
  });

  it('destroys by terminating; reports the socket drain, pause and resume, buffered bytes', () => {
    const { ws, raw, stream, events } = setup();
    ws.bufferedAmount = 123;
    expect(stream.writableLength).toBe(123);
    stream.pause();
    expect(ws.paused).toBe(true);
    stream.resume();
    expect(ws.paused).toBe(false);
    raw.emit('drain');
    expect(events).toEqual(['drain']);
    stream.destroy();
    expect(ws.terminated).toBe(1);
    raw.destroyed = true;
    expect(stream.destroyed).toBe(true);
    expect(stream.writableLength).toBe(0);
  });
});
