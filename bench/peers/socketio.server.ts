/**
 * A Socket.IO chat server, the way a Node chat application would write it, as a
 * peer in bench/compare.bench.ts: websocket transport only, the user id from the
 * handshake's auth, a map user → socket. 'send' {to, clientMsgId, content} is
 * acknowledged with {clientMsgId, msgId, seq, ts} and emitted to the recipient as
 * 'msg' {msgId, seq, from, content, ts} with an ack callback. Heartbeats are
 * engine.io's ping/pong every PING_INTERVAL_MS.
 *   PORT=7602 node --import tsx bench/peers/socketio.server.ts
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server, Socket } from 'socket.io';

const port = Number(process.env.PORT ?? 7602);
const pingInterval = Number(process.env.PING_INTERVAL_MS ?? 25000);

interface SendBody {
  to?: unknown;
  clientMsgId?: unknown;
  content?: unknown;
}

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  pingInterval,
  pingTimeout: Math.max(20000, pingInterval),
});
const users = new Map<string, Socket>();
const inboxSeq = new Map<string, number>();
const delivered = () => undefined;

io.use((socket, next) => {
  const uid: unknown = (socket.handshake.auth as { uid?: unknown }).uid;
  if (typeof uid !== 'string' || uid === '') return next(new Error('no uid'));
  socket.data.uid = uid;
  next();
});

io.on('connection', (socket) => {
  const uid = socket.data.uid as string;
  users.get(uid)?.disconnect(true);
  users.set(uid, socket);
  socket.on('disconnect', () => {
    if (users.get(uid) === socket) users.delete(uid);
  });
  socket.on('send', (msg: SendBody, ack: unknown) => {
    if (typeof msg?.to !== 'string' || typeof msg.clientMsgId !== 'string') {
      if (typeof ack === 'function') ack({ error: 'bad-request' });
      return;
    }
    const seq = (inboxSeq.get(msg.to) ?? 0) + 1;
    inboxSeq.set(msg.to, seq);
    const msgId = randomUUID();
    const ts = Date.now();
    if (typeof ack === 'function') ack({ clientMsgId: msg.clientMsgId, msgId, seq, ts });
    users.get(msg.to)?.emit('msg', { msgId, seq, from: uid, content: msg.content, ts }, delivered);
  });
});

http.listen(port, '127.0.0.1');
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
