import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import { webcrypto } from 'node:crypto';
import { MsgOp } from '../../src/messaging/messaging.ops';
import { FrameDecoder, encodeJsonFrame } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/op-codes';
import { until } from '../support/wait';

const ROOT = join(__dirname, '..', '..');

/** The browser entry as scripts/build-browser.mjs builds it (platform browser, bundled). */
async function bundle(format: 'esm' | 'iife') {
  return build({
    absWorkingDir: ROOT,
    entryPoints: ['src/client/browser.ts'],
    bundle: true,
    platform: 'browser',
    format,
    globalName: format === 'iife' ? 'longlink' : undefined,
    target: 'es2020',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
}

/** What the SDK is given of a page: Web APIs only; no Buffer, process, require, setImmediate. */
interface FakePage {
  context: object;
  sockets: FakeSocket[];
  storage: Map<string, string>;
}

interface SocketEvents {
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** A gateway's end of one browser WebSocket, decoding what the page sends. */
class FakeSocket implements SocketEvents {
  onopen: SocketEvents['onopen'] = null;
  onclose: SocketEvents['onclose'] = null;
  onerror: SocketEvents['onerror'] = null;
  onmessage: SocketEvents['onmessage'] = null;
  binaryType = 'blob';
  readyState = 0;
  readonly received: { op: number; seq: number; body: unknown }[] = [];
  private readonly decoder = new FrameDecoder(
    {
      onFrame: (op, seq, body) =>
        this.received.push({
          op,
          seq,
          body: body.length ? JSON.parse(body.toString('utf8')) : undefined,
        }),
      onFrameError: (error) => {
        throw error;
      },
    },
    1 << 20,
  );

  constructor(
    readonly url: string,
    private readonly toPageBuffer: (bytes: Uint8Array) => ArrayBuffer,
  ) {
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
  }

  send(data: Uint8Array): void {
    // One frame per message: the decoder must see each whole, as the gateway does.
    expect(data.byteLength).toBe(new DataView(data.buffer, data.byteOffset).getUint32(0));
    this.decoder.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 1);
  }

  /** The gateway sends a frame (as an ArrayBuffer of the page's realm, as a browser gives it). */
  push(op: number, seq: number, body?: unknown): void {
    this.onmessage?.({ data: this.toPageBuffer(encodeJsonFrame(op, seq, body)) });
  }

  reply(request: { op: number; seq: number }, body?: unknown): void {
    this.push((request.op | REPLY_FLAG) >>> 0, request.seq, body);
  }

  async next(op: number): Promise<{ op: number; seq: number; body: unknown }> {
    await until(() => this.received.some((f) => f.op === op), `op ${op} from the page`);
    const index = this.received.findIndex((f) => f.op === op);
    return this.received.splice(index, 1)[0];
  }
}

function fakePage(): FakePage {
  const sockets: FakeSocket[] = [];
  const storage = new Map<string, string>();
  const context = createContext({
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    crypto: webcrypto,
    console,
    location: { protocol: 'http:', host: '127.0.0.1:7401' },
    localStorage: {
      getItem: (key: string) => storage.get(key) ?? null,
      setItem: (key: string, value: string) => storage.set(key, value),
    },
  });
  const toPageBuffer = runInContext(
    '(bytes) => { const b = new ArrayBuffer(bytes.length); new Uint8Array(b).set(bytes); return b; }',
    context,
  ) as (bytes: Uint8Array) => ArrayBuffer;
  (context as { WebSocket: unknown }).WebSocket = class extends FakeSocket {
    constructor(url: string) {
      super(url, toPageBuffer);
      sockets.push(this);
    }
  };
  return { context, sockets, storage };
}

const SESSION = { uid: 'alice', heartbeatIntervalMs: 60_000, heartbeatTimeoutMs: 60_000 };

describe('the browser bundle', () => {
  it('builds for platform browser with no Node builtin in its graph', async () => {
    const result = await bundle('esm');
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    expect(inputs.filter((input) => input.startsWith('node:') || builtins.has(input))).toEqual([]);
    // Buffer comes from the npm package; the TCP and TLS transports stay out.
    expect(inputs).toContain('node_modules/buffer/index.js');
    expect(
      inputs.filter((input) => /tcp\.transport|tls\.transport|frame-body/.test(input)),
    ).toEqual([]);
    const code = result.outputFiles[0].text;
    expect(code).not.toMatch(/require\(["']node:/);
    expect(code).not.toMatch(/from ["']node:/);
  });

  it('logs in over a WebSocket, takes the inbox once, acks, keeps lastSeq in localStorage and resumes after a reconnect', async () => {
    const result = await bundle('iife');
    const page = fakePage();
    runInContext(result.outputFiles[0].text, page.context);
    const sdk = (page.context as { longlink: Record<string, unknown> }).longlink;
    const script = `
      const client = new longlink.LonglinkClient({
        token: 'tok',
        lastSeqStore: new longlink.LocalStorageLastSeqStore('longlink:lastSeq:alice'),
        reconnect: { initialDelayMs: 10, maxDelayMs: 10, jitter: 0 },
      });
      globalThis.seen = [];
      globalThis.events = [];
      client.on('message', (m) => { seen.push(m.seq + ':' + m.content.text); });
      client.on('reconnecting', () => events.push('reconnecting'));
      client.on('reconnect', () => events.push('reconnect'));
      globalThis.client = client;
      globalThis.connected = client.connect();
    `;
    expect(typeof sdk.LonglinkClient).toBe('function');
    runInContext(script, page.context);
    const g = page.context as {
      seen: string[];
      events: string[];
      connected: Promise<unknown>;
      client: { send(to: string, content: unknown): Promise<string>; close(): Promise<void> };
    };

    try {
      await until(() => page.sockets.length === 1, 'a WebSocket');
      const ws = page.sockets[0];
      expect(ws.url).toBe('ws://127.0.0.1:7401/ws');
      expect(ws.binaryType).toBe('arraybuffer');
      const login = await ws.next(Op.LOGIN);
      expect(login.body).toEqual({ token: 'tok' });
      ws.reply(login, { ...SESSION, serverTimeMs: Date.now() });
      await g.connected;

      const msg = { msgId: 'm1', seq: 1, from: 'bob', content: { text: 'hi' }, ts: 1 };
      ws.push(MsgOp.MSG, 0, msg);
      ws.push(MsgOp.MSG, 0, msg); // pushed again: handed over once
      expect((await ws.next(MsgOp.PUSH_ACK)).body).toEqual({ upTo: 1 });
      expect(g.seen).toEqual(['1:hi']);
      await until(() => page.storage.get('longlink:lastSeq:alice') === '1', 'lastSeq saved');

      const sent = g.client.send('bob', { text: 'yo' });
      const send = await ws.next(MsgOp.SEND);
      expect(send.body).toMatchObject({ to: 'bob', content: { text: 'yo' } });
      const { clientMsgId } = send.body as { clientMsgId: string };
      ws.reply(send, { clientMsgId, msgId: 'm9', seq: 4, ts: 2 });
      await expect(sent).resolves.toBe('m9');

      // The gateway goes away: the client reconnects, resumes after seq 1 and syncs.
      ws.close(1006);
      await until(() => page.sockets.length === 2, 'a second WebSocket');
      const again = page.sockets[1];
      const relogin = await again.next(Op.LOGIN);
      expect(relogin.body).toEqual({ token: 'tok', lastSeq: 1 });
      again.reply(relogin, { ...SESSION, serverTimeMs: Date.now() });
      const sync = await again.next(MsgOp.SYNC);
      expect(sync.body).toEqual({ lastSeq: 1 });
      again.reply(sync, { lastSeq: 2 });
      again.push(MsgOp.MSG, 0, {
        msgId: 'm2',
        seq: 2,
        from: 'bob',
        content: { text: 'back' },
        ts: 3,
      });
      await until(() => g.seen.length === 2, 'the message after the reconnect');
      expect(g.seen).toEqual(['1:hi', '2:back']);
      await until(() => g.events.length === 2, 'the reconnect event');
      expect(g.events).toEqual(['reconnecting', 'reconnect']);
      await until(() => page.storage.get('longlink:lastSeq:alice') === '2', 'lastSeq 2 saved');
    } finally {
      // Even on a failed expectation: its heartbeat timer would keep jest alive.
      await g.client.close();
    }
  });
});
