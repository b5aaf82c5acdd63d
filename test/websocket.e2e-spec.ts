import { MsgOp } from '../src/messaging/messaging.ops';
import { SessionService } from '../src/session/session.service';
import { KickReason } from '../src/transport/error-codes';
import { encodeJsonFrame } from '../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../src/transport/ops';
import { HttpTestGateway, startHttpGateway } from './support/http-gateway';
import { TestClient } from './support/test-client';
import { until } from './support/wait';
import { WsTestClient } from './support/ws-test-client';

/**
 * The WebSocket listener at /ws on the HTTP port (docs/PROTOCOL.md, WebSocket):
 * the same frames, one per binary message, into the same sessions as TCP, so
 * WebSocket and TCP users talk to each other and a relogin on either kicks the other.
 */

const LOGIN_REPLY = (Op.LOGIN | REPLY_FLAG) >>> 0;
const HEARTBEAT_REPLY = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;
const SEND_REPLY = (MsgOp.SEND | REPLY_FLAG) >>> 0;

describe('WebSocket listener at /ws', () => {
  let h: HttpTestGateway;
  let sessions: SessionService;
  let wsUrl: string;
  let opened: Array<WsTestClient | TestClient> = [];

  beforeAll(async () => {
    h = await startHttpGateway();
    sessions = h.gateway.app.get(SessionService);
    wsUrl = `ws://127.0.0.1:${h.httpPort}/ws`;
  });
  afterAll(() => h.close());
  afterEach(async () => {
    for (const c of opened) c.close();
    opened = [];
    await until(() => sessions.count() === 0, 'nobody online after the test');
  });

  async function ws(url = wsUrl, options = {}): Promise<WsTestClient> {
    const c = await WsTestClient.connect(url, options);
    opened.push(c);
    return c;
  }

  async function tcp(): Promise<TestClient> {
    const c = await TestClient.connect(h.port);
    opened.push(c);
    return c;
  }

  async function login(c: WsTestClient | TestClient, uid: string): Promise<void> {
    const reply = await c.login(await h.token(uid));
    expect(reply.op).toBe(LOGIN_REPLY);
  }

  it('logs in and heartbeats over WebSocket; the connection is labelled websocket', async () => {
    const c = await ws();
    const reply = await c.login(await h.token('ws-alice'));
    expect(reply.op).toBe(LOGIN_REPLY);
    expect(reply.body).toMatchObject({ uid: 'ws-alice', heartbeatIntervalMs: expect.any(Number) });
    expect((await c.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    const conn = sessions.find('ws-alice')!;
    expect(conn.listener).toBe('websocket');
    expect(conn.remoteAddress).toBe('127.0.0.1');
    // TCP connections keep their own label.
    const t = await tcp();
    await login(t, 'tcp-bob');
    expect(sessions.find('tcp-bob')!.listener).toBe('tcp');
    expect(c.badMessages).toHaveLength(0);
  });

  it('sends every frame of a turn as its own binary message', async () => {
    const c = await ws();
    await login(c, 'ws-burst');
    // Replies to these leave in one flush (one buffer of many frames), split into messages.
    const seqs = Array.from({ length: 50 }, (_, i) => 100 + i);
    for (const seq of seqs) c.sendRaw(encodeJsonFrame(Op.HEARTBEAT, seq));
    const replies = await Promise.all(seqs.map((s) => c.waitFor((f) => f.seq === s)));
    expect(replies.every((f) => f.op === HEARTBEAT_REPLY)).toBe(true);
    expect(c.badMessages).toHaveLength(0);
  });

  it('delivers messages between a WebSocket user and a TCP user, both ways, with PUSH_ACK', async () => {
    const w = await ws();
    await login(w, 'ws-carol');
    const t = await tcp();
    await login(t, 'tcp-dave');

    const sent = await w.request(MsgOp.SEND, {
      to: 'tcp-dave',
      clientMsgId: 'w1',
      content: { text: 'hi from ws' },
    });
    expect(sent.op).toBe(SEND_REPLY);
    const atTcp = await t.waitForOp(MsgOp.MSG);
    expect(atTcp.seq).toBe(0);
    expect(atTcp.body).toMatchObject({ from: 'ws-carol', content: { text: 'hi from ws' } });
    t.send(MsgOp.PUSH_ACK, { upTo: atTcp.body.seq });

    const back = await t.request(MsgOp.SEND, {
      to: 'ws-carol',
      clientMsgId: 't1',
      content: { text: 'hi from tcp' },
    });
    expect(back.op).toBe(SEND_REPLY);
    const atWs = await w.waitForOp(MsgOp.MSG);
    expect(atWs.body).toMatchObject({
      from: 'tcp-dave',
      seq: back.body.seq,
      content: { text: 'hi from tcp' },
    });
    w.send(MsgOp.PUSH_ACK, { upTo: atWs.body.seq });
    // Acknowledged: nothing is pushed again; both stay connected.
    expect((await w.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect((await t.request(Op.HEARTBEAT)).op).toBe(HEARTBEAT_REPLY);
    expect(w.frames.filter((f) => f.op === MsgOp.MSG)).toHaveLength(1);
  });

  it('a relogin on WebSocket kicks the TCP session (KICK relogin, then closed)', async () => {
    const t = await tcp();
    await login(t, 'roamer');
    const w = await ws();
    await login(w, 'roamer');
    const kick = await t.waitForOp(Op.KICK);
    expect(kick.body).toEqual({ code: KickReason.Relogin, message: expect.any(String) });
    await t.waitClosed();
    expect(sessions.find('roamer')!.listener).toBe('websocket');
  });

  it('a relogin on TCP kicks the WebSocket session: KICK relogin, then close 1000', async () => {
    const w = await ws();
    await login(w, 'roamer2');
    const t = await tcp();
    await login(t, 'roamer2');
    const kick = await w.waitForOp(Op.KICK);
    expect(kick.seq).toBe(0);
    expect(kick.body).toEqual({ code: KickReason.Relogin, message: expect.any(String) });
    expect(await w.waitClosed()).toEqual({ code: 1000, reason: '' });
    // Nothing follows the KICK.
    expect(w.frames[w.frames.length - 1]).toBe(kick);
    expect(sessions.find('roamer2')!.listener).toBe('tcp');
  });

  it('accepts a client without an Origin header (not a browser)', async () => {
    const c = await ws(wsUrl, {});
    await login(c, 'no-origin');
  });

  it("accepts a browser of the HTTP port's own origin by default", async () => {
    const c = await ws(wsUrl, { origin: `http://127.0.0.1:${h.httpPort}` });
    await login(c, 'own-origin');
  });

  it('refuses other origins by default with 403, before any upgrade', async () => {
    const before = h.gateway.server.connectionCount;
    expect(await WsTestClient.refusal(wsUrl, { origin: 'http://evil.example' })).toBe(403);
    // Same host, other port: another origin.
    expect(await WsTestClient.refusal(wsUrl, { origin: 'http://127.0.0.1:1' })).toBe(403);
    // Sandboxed pages and files send "null".
    expect(await WsTestClient.refusal(wsUrl, { origin: 'null' })).toBe(403);
    expect(h.gateway.server.connectionCount).toBe(before);
  });

  it('answers an upgrade of another path with 404', async () => {
    expect(await WsTestClient.refusal(`ws://127.0.0.1:${h.httpPort}/other`)).toBe(404);
    // A query string does not change the path.
    const c = await ws(`${wsUrl}?v=1`);
    await login(c, 'with-query');
  });

  it('selects the longlink subprotocol when offered; selects none of others', async () => {
    const plain = await ws();
    expect(plain.ws.protocol).toBe('');
    const named = await WsTestClient.connect(wsUrl, {}, ['other', 'longlink']);
    opened.push(named);
    expect(named.ws.protocol).toBe('longlink');
    await login(named, 'with-protocol');
    // None selected: a client that insists on its own (as browsers and ws do) fails the handshake.
    await expect(WsTestClient.connect(wsUrl, {}, ['chat'])).rejects.toThrow(
      'Server sent no subprotocol',
    );
  });
});
