/**
 * The ceiling for the hot-path benchmark: a bare node:net server with the same
 * frame codec, answering every HEARTBEAT with its reply. No framework, no
 * guards, no sessions; replies of one read leave in one write.
 */
import { createServer } from 'node:net';
import { FrameDecoder, HEADER_BYTES, writeHeader } from '../../src/transport/frame.codec';
import { Op, REPLY_FLAG } from '../../src/transport/ops';

const port = Number(process.env.PORT ?? 7499);
const REPLY_OP = (Op.HEARTBEAT | REPLY_FLAG) >>> 0;

const server = createServer({ noDelay: true }, (socket) => {
  let out: Buffer[] = [];
  const decoder = new FrameDecoder(
    {
      onFrame(_op, seq) {
        const reply = Buffer.allocUnsafe(HEADER_BYTES);
        writeHeader(reply, 0, HEADER_BYTES, REPLY_OP, seq);
        out.push(reply);
      },
      onFrameError() {
        socket.destroy();
      },
    },
    65536,
  );
  socket.on('data', (chunk) => {
    decoder.push(chunk);
    if (out.length === 0) return;
    socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    out = [];
  });
  socket.on('error', () => undefined);
});
server.listen(port, '127.0.0.1', () => process.send?.('ready'));
