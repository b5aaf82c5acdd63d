/**
 * Preloaded (node --expose-gc --import heap-probe.mjs) into the Node servers of the
 * connection-scale scenario. It listens on the unix socket named by
 * BENCH_HEAP_SOCKET; any byte received there forces two full GCs and answers with
 * process.memoryUsage() as JSON. A socket, not a signal: Nest's shutdown hooks
 * treat SIGUSR2 as a shutdown signal. The listener is unref'ed and costs nothing
 * between probes.
 */
import fs from 'node:fs';
import net from 'node:net';

const path = process.env.BENCH_HEAP_SOCKET;
if (path) {
  try {
    fs.unlinkSync(path);
  } catch {
    // not there yet
  }
  const server = net.createServer((conn) => {
    conn.on('error', () => undefined);
    conn.once('data', () => {
      if (typeof globalThis.gc === 'function') {
        globalThis.gc();
        globalThis.gc();
      }
      conn.end(JSON.stringify(process.memoryUsage()));
    });
  });
  server.listen(path);
  server.unref();
}
