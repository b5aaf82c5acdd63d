/**
 * Aedes, the Node MQTT broker, as a peer in bench/compare.bench.ts: its defaults
 * (in-memory persistence), on a plain node:net server as its README shows.
 *   PORT=7601 node --import tsx bench/peers/aedes.server.ts
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.env.PORT ?? 7601);

async function main(): Promise<void> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  server.listen(port, '127.0.0.1');
  process.on('SIGINT', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
